"""Hostile: attach to the parent (the zygote) and to pid 1 with ptrace, and read the parent's
memory with process_vm_readv and /proc/<ppid>/mem.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import ctypes
import functools
import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_DETACH = 16, 0x4206, 17
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.POINTER(IoVec), ctypes.c_ulong, ctypes.POINTER(IoVec), ctypes.c_ulong, ctypes.c_ulong]
libc.process_vm_readv.restype = ctypes.c_ssize_t


@functools.cache
def stolen():
    """Proof of access to another process's memory."""
    parent = os.getppid()
    for pid in (parent, 1):
        for request in (PTRACE_ATTACH, PTRACE_SEIZE):
            if libc.ptrace(request, pid, None, None) == 0:
                libc.ptrace(PTRACE_DETACH, pid, None, None)
                return f"ptrace({request}) on pid {pid}"
    buffer = ctypes.create_string_buffer(64)
    local = IoVec(ctypes.addressof(buffer), 64)
    remote = IoVec(id(None), 64)  # forked from the parent: None lives at the same address there
    if libc.process_vm_readv(parent, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) > 0:
        return f"process_vm_readv of pid {parent}: {buffer.raw!r}"
    try:
        with open(f"/proc/{parent}/mem", "rb", buffering=0) as mem:
            mem.seek(id(None))
            return f"/proc/{parent}/mem: {mem.read(64)!r}"
    except (OSError, ValueError):
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
