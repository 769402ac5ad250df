"""Hostile, first half of a pair with pick_up.py: an entirely correct submission that leaves a
stash behind for a later submission: files outside its scratch directory, a System V shared
memory segment and message queue, a POSIX message queue, and a folder locked with chmod 0 in
its scratch directory.

Honest: everything (it must earn 100). The stash is what pick_up.py looks for.
"""

import ctypes
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


def leave():
    for place in PLACES:
        try:
            with open(os.path.join(place, NAME), "w") as f:
                f.write("answers for whoever comes next")
        except OSError:
            pass
    segment = libc.shmget(SHM_KEY, 4096, IPC_CREAT | 0o666)
    if segment >= 0:
        address = libc.shmat(segment, None, 0)
        if address not in (None, ctypes.c_void_p(-1).value):
            ctypes.memmove(address, b"answers", 7)
            libc.shmdt(address)
    libc.msgget(MSG_KEY, IPC_CREAT | 0o666)
    libc.mq_open(b"/" + NAME.encode(), O_CREAT | O_RDWR, 0o666, None)
    # In its own scratch directory, a folder nobody may list: a cleanup that cannot read it
    # leaves the whole scratch directory (and this) behind.
    os.makedirs(f"{NAME}/inner")
    with open(f"{NAME}/inner/answers", "w") as f:
        f.write("answers for whoever comes next")
    os.chmod(f"{NAME}/inner", 0)
    os.chmod(NAME, 0)


leave()


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


softmax_grad = _right_dz3
gradients = _right_gradients
