"""Layers in float32 (inputs are cast on the way in)."""
import numpy as np

f32 = np.float32


def affine_forward(x, w, b):
    x, w, b = x.astype(f32), w.astype(f32), b.astype(f32)
    out = x.reshape(len(x), -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    dout = dout.astype(f32)
    dx = np.reshape(dout @ w.T, x.shape)
    dw = x.reshape(len(x), -1).T @ dout
    db = dout.sum(0)
    return dx, dw, db


def relu_forward(x):
    x = x.astype(f32)
    return np.where(x > 0, x, f32(0)), x


def relu_backward(dout, cache):
    return np.where(cache > 0, dout.astype(f32), f32(0))


def batchnorm_forward(x, gamma, beta, bn_param):
    x, gamma, beta = x.astype(f32), gamma.astype(f32), beta.astype(f32)
    eps = f32(bn_param.get("eps", 1e-5))
    m = f32(bn_param.get("momentum", 0.9))
    D = x.shape[1]
    rm = np.asarray(bn_param.get("running_mean", np.zeros(D)), dtype=f32)
    rv = np.asarray(bn_param.get("running_var", np.ones(D)), dtype=f32)
    if bn_param["mode"] == "train":
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
        inv = f32(1) / np.sqrt(var + eps)
        xn = (x - mean) * inv
        bn_param["running_mean"] = m * rm + (f32(1) - m) * mean
        bn_param["running_var"] = m * rv + (f32(1) - m) * var
        return gamma * xn + beta, (xn, gamma, inv)
    xn = (x - rm) / np.sqrt(rv + eps)
    return gamma * xn + beta, (xn, gamma, None)


def batchnorm_backward(dout, cache):
    xn, gamma, inv = cache
    dout = dout.astype(f32)
    dxn = dout * gamma
    dx = inv * (dxn - dxn.mean(0) - xn * (dxn * xn).mean(0))
    return dx, (dout * xn).sum(0), dout.sum(0)
