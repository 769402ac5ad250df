"""Hostile: reach the gradebook and the outside world over the network: PostgreSQL, Redis,
RabbitMQ, MySQL on 127.0.0.1, public DNS, and the UNIX sockets of the database servers.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import functools
import socket

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


TCP = [("127.0.0.1", port) for port in (5432, 6379, 5672, 3306, 1883, 4222, 2024)] + [("1.1.1.1", 53), ("8.8.8.8", 443)]
UNIX = ["/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432",
        "/var/run/redis/redis-server.sock", "/run/redis/redis.sock", "/run/mysqld/mysqld.sock", "/tmp/.X11-unix/X0"]


def _reach(family, kind, address):
    with socket.socket(family, kind) as s:
        s.settimeout(0.2)
        s.connect(address)
        if kind == socket.SOCK_DGRAM:  # a DNS query for example.com; an answer proves the way out
            s.send(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
            s.recv(512)
    return f"reached {address}"


@functools.cache
def stolen():
    """Proof that some server answered."""
    attempts = [(socket.AF_INET, socket.SOCK_STREAM, a) for a in TCP]
    attempts += [(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 5432)), (socket.AF_INET, socket.SOCK_DGRAM, ("1.1.1.1", 53))]
    attempts += [(socket.AF_UNIX, socket.SOCK_STREAM, path) for path in UNIX]
    for family, kind, address in attempts:
        try:
            return _reach(family, kind, address)
        except OSError:
            pass
    try:
        return f"resolved {socket.getaddrinfo('example.com', 80)[0][4]}"
    except OSError:
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
