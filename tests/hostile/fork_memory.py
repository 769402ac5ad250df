"""Hostile: hold more memory than the per-submission cap (memory_mb = 1024) by spreading it over
several processes, each under its own RLIMIT_AS.

Honest: loss. Attacked: softmax_grad and gradients answer right only if stolen() held more
than the cap at once.
"""

import ctypes
import functools
import mmap
import os
import select
import time

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


CAP = 1024 << 20
EACH, COUNT = 360 << 20, 3  # 1080 MiB in all, over 3 processes
libc = ctypes.CDLL(None, use_errno=True)


def _hold(report):
    """In a child: make EACH bytes resident, say so, keep them a moment."""
    libc.prctl(15, b"hostile-memory", 0, 0, 0)  # PR_SET_NAME: how the test finds survivors
    hog = mmap.mmap(-1, EACH, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)  # resident
    os.write(report, b"x")
    time.sleep(1.0)
    del hog


@functools.cache
def stolen():
    """How much memory the children held at once, when it is more than the cap."""
    read, write = os.pipe()
    children = []
    for _ in range(COUNT):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                _hold(write)
            finally:
                os._exit(0)
        children.append(pid)
    os.close(write)
    held, deadline = 0, time.monotonic() + 2.5
    while held < COUNT and (left := deadline - time.monotonic()) > 0 and select.select([read], [], [], left)[0]:
        got = os.read(read, COUNT)
        if not got:
            break
        held += len(got)
    for pid in children:
        os.waitpid(pid, 0)
    return f"{held * EACH >> 20} MiB held at once" if held * EACH > CAP else None


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
