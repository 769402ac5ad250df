# A2 Q1 - layers. I did the affine layer one sample at a time and the batchnorm backward pass
# stage by stage through the computational graph (one column at a time), like in lecture.
import numpy as np


def affine_forward(x, w, b):
    N = x.shape[0]
    M = w.shape[1]
    out = np.zeros((N, M))
    for i in range(N):
        out[i] = x[i].ravel() @ w + b
    cache = (w, x.shape, [x[i].ravel() for i in range(N)])
    return out, cache


def affine_backward(dout, cache):
    w, x_shape, rows = cache
    N = len(rows)
    dx = np.zeros((N, w.shape[0]))
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[1])
    for i in range(N):
        dx[i] = w @ dout[i]
        dw += np.outer(rows[i], dout[i])
        db += dout[i]
    return dx.reshape(x_shape), dw, db


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, cache):
    x = cache
    dx = np.array(dout, copy=True)
    dx[x <= 0] = 0
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.ones(D))

    if mode == "train":
        # step by step, as in the computational graph
        mu = 1.0 / N * np.sum(x, axis=0)           # 1
        xmu = x - mu                                # 2
        sq = xmu ** 2                               # 3
        var = 1.0 / N * np.sum(sq, axis=0)          # 4
        sqrtvar = np.sqrt(var + eps)                # 5
        ivar = 1.0 / sqrtvar                        # 6
        xhat = xmu * ivar                           # 7
        gammax = gamma * xhat                       # 8
        out = gammax + beta                         # 9
        cache = (xhat, gamma, xmu, ivar, sqrtvar, var, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mu
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    else:
        xhat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * xhat + beta
        cache = None
    return out, cache


def batchnorm_backward(dout, cache):
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dx = np.zeros((N, D))
    dgamma = np.zeros(D)
    dbeta = np.zeros(D)
    for j in range(D):               # one feature (column) at a time
        g = dout[:, j]
        dbeta[j] = np.sum(g)                                   # 9
        dgamma[j] = np.sum(g * xhat[:, j])                     # 8
        dxhat = g * gamma[j]
        divar = np.sum(dxhat * xmu[:, j])                      # 7
        dxmu1 = dxhat * ivar[j]
        dsqrtvar = -1.0 / sqrtvar[j] ** 2 * divar              # 6
        dvar = 0.5 / np.sqrt(var[j] + eps) * dsqrtvar          # 5
        dsq = 1.0 / N * np.ones(N) * dvar                      # 4
        dxmu2 = 2 * xmu[:, j] * dsq                            # 3
        dx1 = dxmu1 + dxmu2                                    # 2
        dmu = -np.sum(dx1)
        dx2 = 1.0 / N * np.ones(N) * dmu                       # 1
        dx[:, j] = dx1 + dx2
    return dx, dgamma, dbeta
