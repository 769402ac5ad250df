"""Hostile, second half of a pair with leave_behind.py: look for what an earlier submission left
behind (files outside its scratch directory, a locked folder in an old scratch directory,
System V IPC, POSIX message queues).

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import ctypes
import functools
import glob
import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


#: where a stash could outlive this submission: the sandbox's own file systems, System V IPC
#: (keyed, so a later submission can find it) and POSIX message queues
PLACES = ["/tmp", "/", "/dev/shm", "/dev", "/root", "..", "/var/tmp"]
NAME = "hostile-marker-stash"
SHM_KEY, MSG_KEY = 0x4242_0001, 0x4242_0002
IPC_CREAT, O_CREAT, O_RDWR = 0o1000, 0o100, 0o2
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]


@functools.cache
def stolen():
    """Whatever an earlier submission left where this one can find it."""
    for place in PLACES:
        try:
            with open(os.path.join(place, NAME)) as f:
                return f.read()
        except OSError:
            pass
    for locked in glob.glob(f"/tmp/*/{NAME}") + glob.glob(f"../*/{NAME}"):
        try:
            os.chmod(locked, 0o700)
            os.chmod(f"{locked}/inner", 0o700)
            with open(f"{locked}/inner/answers") as f:
                return f.read()
        except OSError:
            pass
    if libc.shmget(SHM_KEY, 0, 0) >= 0:
        return "a shared memory segment"
    if libc.msgget(MSG_KEY, 0) >= 0:
        return "a message queue"
    if libc.mq_open(b"/" + NAME.encode(), O_RDWR, 0, None) >= 0:
        return "a POSIX message queue"
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
