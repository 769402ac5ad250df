"""Hostile: write hand-made reply frames straight into the grader's pipe: an empty array with a
dimension of 2**70 (valid sizes, absurd shape), and a "dict" answer that is really a list.

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
    body = {"status": "ok", "value": {"array": {"__nd__": 0, "dtype": "<f8", "shape": [0, 2**70]}}}
    _send(_frame(json.dumps({"body": body, "buffers": [0]}).encode()))


def gradients(params, X, y, reg):
    body = {"status": "ok", "value": {"dict": ["W1", "b1", "W2", "b2"]}}
    _send(_frame(json.dumps({"body": body, "buffers": []}).encode()) * 5)  # one per case of the batch
