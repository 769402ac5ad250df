"""Hostile: a hand-made reply whose one 4 MiB buffer (the largest reply allowed) is the array of
150 answers: a grader that decodes each reference into its own copy allocates 600 MiB for the
4 MiB it read (a 1 MiB header fits some 23,000 references: 90 GiB).

Honest: loss. Attacked: softmax_grad and gradients (their replies are refused).
"""

import json
import os
import struct

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


SIZE, REFERENCES = 4 << 20, 150


def _bomb():
    """Write the reply to the grader's replies pipe and have the last word."""
    array = {"array": {"__nd__": 0, "dtype": "|u1", "shape": [SIZE]}}
    body = {"status": "ok", "value": {"dict": {f"k{n}": array for n in range(REFERENCES)}},
            "error": "", "seconds": 0.0, "mutated": [], "inner_calls": {}}
    header = json.dumps({"body": body, "buffers": [SIZE]}).encode()
    frame = struct.pack(">I", len(header)) + header + bytes(SIZE)
    for fd in range(3, 10):  # the requests pipe refuses writes; the replies pipe takes them
        try:
            view = memoryview(frame)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass
    os._exit(0)


def softmax_grad(z3, y):
    _bomb()


def gradients(params, X, y, reg):
    _bomb()
