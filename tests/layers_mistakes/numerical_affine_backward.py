"""Assignment 2, Q1: modular layers (affine, ReLU, batch normalization).

Every forward pass returns (out, cache) with the cache a dict of what the backward pass needs.
"""
import numpy as np


def affine_forward(x, w, b):
    """out = x w + b, with x (N, d_1, ..., d_k) flattened to (N, D)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """Every gradient by centered differences of sum(dout * out): no chain rule needed."""
    x, w, b = cache
    h = 1e-5
    grads = []
    for arg in (x, w, b):
        grad = np.zeros_like(arg)
        it = np.nditer(arg, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            old = arg[i]
            arg[i] = old + h
            plus = np.sum(dout * affine_forward(x, w, b)[0])
            arg[i] = old - h
            minus = np.sum(dout * affine_forward(x, w, b)[0])
            arg[i] = old
            grad[i] = (plus - minus) / (2 * h)
        grads.append(grad)
    return tuple(grads)


def relu_forward(x):
    out = np.maximum(0, x)
    return out, {"mask": x > 0}


def relu_backward(dout, cache):
    return dout * cache["mask"]


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))

    if mode == "train":
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        std = np.sqrt(var + eps)
        x_hat = (x - mu) / std
        out = gamma * x_hat + beta
        cache = {"x_hat": x_hat, "gamma": gamma, "std": std}
        running_mean = momentum * running_mean + (1 - momentum) * mu
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
        cache = None
    else:
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_backward(dout, cache):
    x_hat, gamma, std = cache["x_hat"], cache["gamma"], cache["std"]
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = (N * dx_hat - dx_hat.sum(axis=0) - x_hat * (dx_hat * x_hat).sum(axis=0)) / (N * std)
    return dx, dgamma, dbeta
