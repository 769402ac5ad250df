"""Hostile: fill every writable file system: the scratch directory until ENOSPC, then everything
outside it that no limit covers (/, /dev, /dev/shm, /root, System V shared memory), which would
hold the machine's memory after the submission is gone.

Honest: loss. Attacked: softmax_grad and gradients answer right only if stolen() could store
anything where no limit covers it; gradients also fills its scratch directory.
"""

import ctypes
import functools
import os
import time

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


CHUNK = b"\x01" * (16 << 20)  # RLIMIT_FSIZE is 16 MiB: one file per chunk
UNBOUNDED = ["/", "/dev/shm", "/dev", "/root", "/var/tmp", "/proc"]
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]


def fill(directory, budget, seconds):
    """Bytes written into ``directory`` before ENOSPC, EROFS, the budget or the time ran out."""
    written, start = 0, time.monotonic()
    while written < budget and time.monotonic() - start < seconds:
        try:
            with open(os.path.join(directory, f"hostile-marker-fill-{written >> 24}"), "wb") as f:
                written += f.write(CHUNK)
        except OSError:
            break
    return written


def shared_memory(size):
    segment = libc.shmget(IPC_PRIVATE, size, IPC_CREAT | 0o600)  # outlives us: no IPC_RMID
    if segment < 0:
        return 0
    address = libc.shmat(segment, None, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        return 0
    ctypes.memset(address, 1, size)
    libc.shmdt(address)
    return size


@functools.cache
def stolen():
    """Bytes stored where no limit of the sandbox covers them (64 MiB per place at most)."""
    stored = sum(fill(place, 64 << 20, 0.4) for place in UNBOUNDED) + shared_memory(64 << 20)
    return f"{stored >> 20} MiB outside every limit" if stored else None


stolen()


def _fill_scratch():
    fill(".", 1 << 40, 0.7)  # until ENOSPC (the scratch file system is sized) or 0.7 s


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
    _fill_scratch()
    return {k: np.zeros_like(v) for k, v in params.items()}
