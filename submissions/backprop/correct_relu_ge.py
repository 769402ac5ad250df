import numpy as np

DEBUG = True   # TODO turn off before submitting!!


def relu(z):
    return np.maximum(0, z)


def relu_deriv(z):
    # derivative of relu, I take it as 1 at z == 0 (subgradient)
    return (z >= 0).astype(float)


def softmax(z):
    print("softmax input shape:", z.shape)
    z = z - np.max(z, axis=1, keepdims=True)
    exps = np.exp(z)
    out = exps / np.sum(exps, axis=1, keepdims=True)
    print("softmax row sums:", np.sum(out, axis=1))
    return out


def forward(params, X):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    print("X:", X.shape, "W1:", W1.shape, "b1:", b1.shape, "W2:", W2.shape, "b2:", b2.shape)
    z2 = X @ W1 + b1
    print("z2 shape", z2.shape)
    print("z2 =", z2)
    a2 = relu(z2)
    print("a2 =", a2)
    z3 = a2 @ W2 + b2
    print("z3 shape", z3.shape)
    print("z3 =", z3)
    return z2, a2, z3


def loss(params, X, y, reg):
    print("---- loss ----")
    z2, a2, z3 = forward(params, X)
    N = X.shape[0]
    probs = softmax(z3)
    print("probs =", probs)
    # log of the softmax computed from the shifted logits so it never hits log(0)
    shifted = z3 - np.max(z3, axis=1, keepdims=True)
    logp = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    correct_logp = logp[np.arange(N), y]
    print("log p of correct class:", correct_logp)
    data_loss = -np.sum(correct_logp) / N
    reg_loss = reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    print("data loss", data_loss, "reg loss", reg_loss)
    J = data_loss + reg_loss
    print("J =", J)
    return float(J)


def softmax_grad(z3, y):
    print("---- softmax_grad ----")
    N = z3.shape[0]
    print("N =", N, "y =", y)
    delta = np.zeros_like(z3)
    delta[np.arange(N), y] = 1
    print("delta:", delta)
    out = (softmax(z3) - delta) / N
    print("dz3 =", out)
    return out


def gradients(params, X, y, reg):
    print("---- gradients ----")
    W1, W2 = params["W1"], params["W2"]
    z2, a2, z3 = forward(params, X)

    dz3 = softmax_grad(z3, y)
    print("dz3 shape", dz3.shape)

    dW2 = a2.T @ dz3 + 2 * reg * W2
    print("dW2 shape", dW2.shape)
    db2 = np.sum(dz3, axis=0)
    print("db2 shape", db2.shape)

    da2 = dz3 @ W2.T
    print("da2 shape", da2.shape)
    dz2 = da2 * relu_deriv(z2)
    print("dz2 =", dz2)

    dW1 = X.T @ dz2 + 2 * reg * W1
    print("dW1 shape", dW1.shape)
    db1 = np.sum(dz2, axis=0)
    print("db1 shape", db1.shape)

    grads = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
    for k, v in grads.items():
        print(k, "grad norm:", np.linalg.norm(v))
    return grads


# ---------------- quick demo on random data ----------------
np.random.seed(0)
N_demo, D_demo, H_demo, C_demo = 50, 4, 6, 3
X_demo = np.random.randn(N_demo, D_demo)
y_demo = np.random.randint(0, C_demo, size=N_demo)
params_demo = {
    "W1": 0.1 * np.random.randn(D_demo, H_demo),
    "b1": np.zeros(H_demo),
    "W2": 0.1 * np.random.randn(H_demo, C_demo),
    "b2": np.zeros(C_demo),
}
print("demo data:")
for i in range(N_demo):
    print(i, X_demo[i], "label", y_demo[i])
demo_loss = loss(params_demo, X_demo, y_demo, 0.01)
print("demo loss:", demo_loss, "(should be about log(3) =", np.log(3), ")")
_, _, z3_demo = forward(params_demo, X_demo)
p_demo = softmax(z3_demo)
for i in range(N_demo):
    print("sample", i, "probs", p_demo[i], "pred", np.argmax(p_demo[i]), "true", y_demo[i])


def numerical_grad(f, x, h=1e-5):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
        it.iternext()
    return g


if __name__ == "__main__":
    # gradient check against finite differences
    Xs = np.random.randn(5, 3)
    ys = np.random.randint(0, 2, size=5)
    ps = {
        "W1": np.random.randn(3, 4),
        "b1": np.random.randn(4),
        "W2": np.random.randn(4, 2),
        "b2": np.random.randn(2),
    }
    g = gradients(ps, Xs, ys, 0.1)
    for name in ["W1", "b1", "W2", "b2"]:
        num = numerical_grad(lambda: loss(ps, Xs, ys, 0.1), ps[name])
        err = np.linalg.norm(num - g[name]) / max(1e-8, np.linalg.norm(num) + np.linalg.norm(g[name]))
        print("grad check", name, "rel error", err)
