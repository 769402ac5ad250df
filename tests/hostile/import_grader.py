"""Hostile: import the grader and the reference (removing the import blocker, adding likely paths),
and search this process's memory for the grader's objects.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import functools
import gc
import glob
import importlib
import importlib.util
import sys
import types

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


MODULES = ("reference.backprop", "backprop", "grader", "grader.checks.reference", "grader.sandbox.process")


def _source(module):
    try:
        with open(module.__file__) as f:
            return f.read()
    except (OSError, TypeError, AttributeError):
        return f"imported {module.__name__}"


def _imported():
    for name in MODULES:
        try:
            return _source(importlib.import_module(name))
        except BaseException:
            pass
    return None


@functools.cache
def stolen():
    """The reference's source, or any module or object of the grader."""
    found = _imported()
    if found:
        return found
    sys.meta_path[:] = [f for f in sys.meta_path if "Grader" not in type(f).__name__]
    sys.path[:0] = ["/work/main", "..", "../course", "/work/main/reference", *glob.glob("/tmp/pytest-of-*/pytest-*/*/course"),
                    *glob.glob("/tmp/*/pytest-of-*/pytest-*/*/course")]
    importlib.invalidate_caches()
    found = _imported()
    if found:
        return found
    for path in ["/work/main/reference/backprop.py", "../reference/backprop.py"]:
        try:
            spec = importlib.util.spec_from_file_location("stolen_reference", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return _source(module)
        except BaseException:
            pass
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("grader", "reference"):
            return _source(module)
    ours = {id(v) for v in globals().values()}
    for obj in gc.get_objects():
        owner = getattr(type(obj), "__module__", "") or ""
        if owner.split(".")[0] in ("grader", "reference"):
            return f"a {type(obj).__name__} of the grader in memory"
        if isinstance(obj, types.FunctionType) and id(obj) not in ours and obj.__name__ in ("make_inputs", "kinks", "reference_check", "gradcheck"):
            return f"the grader's {obj.__name__} in memory"
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
