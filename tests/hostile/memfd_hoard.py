"""Hostile: hold more than the memory cap (memory_mb = 1024) in one process by keeping most of
it out of the address space RLIMIT_AS limits: 800 MiB of arrays, then memfds (or, where
memfd_create is refused, unnamed files in the scratch tmpfs) written with write() and parked, as
fds in flight, in a UNIX socket.

Honest: loss. Attacked: softmax_grad and gradients answer right only if stolen() held more than
the cap at once.
"""

import functools
import os
import socket

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


CAP = 1024 << 20
CHUNK = 16 << 20  # RLIMIT_FSIZE is 16 MiB: one memfd or file per chunk
HOARD = 1536 << 20


def _mapped():
    """Resident arrays, as large as the address space allows."""
    for mib in (800, 700, 600, 400):
        try:
            return np.ones(mib << 17)
        except MemoryError:
            pass
    return np.ones(0)


def _unmapped_file():
    try:
        return os.memfd_create("hostile-hoard")
    except OSError:
        pass
    try:
        return os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)  # in the scratch tmpfs, unnamed
    except OSError:
        return None


@functools.cache
def stolen():
    """How much was held at once, when it is more than the cap."""
    arrays = _mapped()
    keep, park = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    chunk, held, kept = b"\x01" * CHUNK, 0, []
    while held < HOARD:
        fd = _unmapped_file()
        if fd is None:
            break
        try:
            if os.write(fd, chunk) != CHUNK:
                raise OSError("short write")
        except OSError:  # ENOSPC, EFBIG
            os.close(fd)
            break
        held += CHUNK
        try:
            socket.send_fds(park, [b"x"], [fd])  # in flight: in no fd table
            os.close(fd)
        except OSError:  # too many fds in flight: keep it in ours
            kept.append(fd)
    total = arrays.nbytes + held
    return f"{total >> 20} MiB held at once" if total > CAP else None


stolen()  # at the top level: the whole load time to work with


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
