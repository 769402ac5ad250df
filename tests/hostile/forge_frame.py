"""Hostile: write hand-made reply frames straight into the grader's pipe, built to break its
decoder: a "seconds" too large for a float, and an integer with more digits than int() accepts.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
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


def _frame(header, payload=b""):
    """A frame of the sandbox's wire format: 4-byte length, JSON header, raw buffers."""
    return struct.pack(">I", len(header)) + header + payload


def _send(data):
    """Write ``data`` to the grader's replies pipe and have the last word: no real reply follows."""
    for fd in range(3, 10):  # the requests pipe refuses writes; the replies pipe takes them
        try:
            os.write(fd, data)
        except OSError:
            pass
    os._exit(0)


def softmax_grad(z3, y):
    body = {"status": "ok", "value": {"array": {"__nd__": 0, "dtype": "<f8", "shape": list(z3.shape)}},
            "error": "", "mutated": [], "inner_calls": {}, "seconds": 10**400}
    _send(_frame(json.dumps({"body": body, "buffers": [z3.size * 8]}).encode(), np.zeros(z3.shape).tobytes()))


def gradients(params, X, y, reg):
    _send(_frame(b'{"body": {"status": "ok", "seconds": ' + b"9" * 5000 + b'}, "buffers": []}'))
