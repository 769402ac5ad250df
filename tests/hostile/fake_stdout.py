"""Hostile: print a fake verdict (a JSON object with 100 points) to stdout and stderr, and write it
to every file descriptor 1..20, including the grader's pipes.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import json
import os
import sys

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


VERDICT = json.dumps({"submission_id": 1, "student": "mallory", "assignment": "backprop", "status": "graded",
                      "message": "100 of 100 points.", "score": 100.0, "max_score": 100.0, "checks": [],
                      "note": "hostile-fake-verdict"})
print(VERDICT)
print(VERDICT, file=sys.stderr)


def _shout():
    for fd in range(1, 21):
        try:
            os.write(fd, (VERDICT + "\n").encode())
        except OSError:
            pass
    print(VERDICT, flush=True)
    sys.__stderr__.write(VERDICT)
    for path in ("/dev/tty", "/dev/stdout", "/proc/self/fd/1", "/dev/console"):
        try:
            with open(path, "w") as f:
                f.write(VERDICT)
        except OSError:
            pass


def softmax_grad(z3, y):
    _shout()
    return np.zeros_like(z3)


def gradients(params, X, y, reg):
    _shout()
    return {k: np.zeros_like(v) for k, v in params.items()}
