"""Hostile: write marker files and fake result files everywhere: the course directory (reference,
rubrics), /tmp, $HOME, /work, the parent of its working directory, the grader's output
directory; append to the reference; leave a symlink out of its scratch directory.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import glob
import json
import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


MARKER = "hostile-marker-write"
VERDICT = json.dumps({"score": 100.0, "max_score": 100.0, "status": "graded"})


def _places():
    places = ["..", "../..", "/tmp", os.path.expanduser("~"), "/root", "/work", "/work/main", "/work/main/reference",
              "/work/main/rubrics", "/", "/dev/shm", "/var/tmp", "/home"]
    for pattern in ("/tmp/pytest-of-*/pytest-*/*", "/tmp/pytest-of-*/pytest-*/*/course/*", "/tmp/grader-output-*",
                    "/tmp/*/pytest-of-*/pytest-*/*", "/tmp/*/pytest-of-*/pytest-*/*/course/*", "/tmp/*/grader-output-*"):
        places += glob.glob(pattern)
    return places


def write_everywhere():
    for place in _places():
        for name in (MARKER, f"{MARKER}-result.json", f"{MARKER}-grade.json"):
            try:
                with open(os.path.join(place, name), "w") as f:
                    f.write(VERDICT)
            except OSError:
                pass
    targets = ["/work/main/reference/backprop.py", "../reference/backprop.py", "/work/main/rubrics/backprop.toml"]
    targets += glob.glob("/tmp/pytest-of-*/pytest-*/*/course/*/backprop.*")
    targets += glob.glob("/tmp/*/pytest-of-*/pytest-*/*/course/*/backprop.*")  # a run's own TMPDIR
    for path in targets:
        try:
            with open(path, "a") as f:
                f.write(f"\n# {MARKER}\n")
        except OSError:
            pass
    for name, target in ((f"{MARKER}-up", ".."), (f"{MARKER}-root", "/")):
        try:
            os.symlink(target, name)  # removing the scratch directory must not follow it
        except OSError:
            pass


write_everywhere()


def softmax_grad(z3, y):
    write_everywhere()
    return np.zeros_like(z3)


def gradients(params, X, y, reg):
    return {k: np.zeros_like(v) for k, v in params.items()}
