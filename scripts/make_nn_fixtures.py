#!/usr/bin/env python3
"""Reference values for Tests/NeuralNetTests, computed with NumPy (float64) by direct,
loop-based definitions written independently of the Swift code (no im2col here).

Run from the repository root:  python3 scripts/make_nn_fixtures.py
Writes Tests/NeuralNetTests/Fixtures/reference.json, recurrent.json from
scripts/nn_fixtures_recurrent.py (recurrent and decoder layers) and transformer.json from
scripts/nn_fixtures_transformer.py (the transformer family); each has its own seed, so the
cases of reference.json stay as they were.
"""
import json
import os
import sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nn_fixtures_recurrent  # noqa: E402
import nn_fixtures_transformer  # noqa: E402

rng = np.random.default_rng(20261122)


def arr(a):
    return {"shape": list(a.shape), "values": [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]}


def rnd(*shape):
    return rng.standard_normal(shape).astype(np.float32).astype(np.float64)


def linear_case():
    x, w, b, dy = rnd(3, 4), rnd(5, 4), rnd(5), rnd(3, 5)
    y = x @ w.T + b
    return {"x": arr(x), "weight": arr(w), "bias": arr(b), "dy": arr(dy),
            "y": arr(y), "dx": arr(dy @ w), "dweight": arr(dy.T @ x), "dbias": arr(dy.sum(0))}


def conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    oh = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    ow = (wd + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for s in range(n):
        for oc in range(o):
            g = oc // og
            for yy in range(oh):
                for xx in range(ow):
                    acc = b[oc]
                    for ci in range(cg):
                        for i in range(k):
                            for j in range(k):
                                iy = yy * stride - padding + i * dilation
                                ix = xx * stride - padding + j * dilation
                                if 0 <= iy < h and 0 <= ix < wd:
                                    acc += w[oc, ci, i, j] * x[s, g * cg + ci, iy, ix]
                    y[s, oc, yy, xx] = acc
    return y


def conv_grads(x, w, dy, stride, padding, dilation, groups):
    """Gradients by the chain rule on the same loop nest (the adjoint of conv2d)."""
    n, c, h, wd = x.shape
    o, cg, k, _ = w.shape
    _, _, oh, ow = dy.shape
    og = o // groups
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for s in range(n):
        for oc in range(o):
            g = oc // og
            for yy in range(oh):
                for xx in range(ow):
                    gy = dy[s, oc, yy, xx]
                    for ci in range(cg):
                        for i in range(k):
                            for j in range(k):
                                iy = yy * stride - padding + i * dilation
                                ix = xx * stride - padding + j * dilation
                                if 0 <= iy < h and 0 <= ix < wd:
                                    dw[oc, ci, i, j] += gy * x[s, g * cg + ci, iy, ix]
                                    dx[s, g * cg + ci, iy, ix] += gy * w[oc, ci, i, j]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def conv_case(cin, cout, k, size, stride, padding, dilation, groups):
    x = rnd(2, cin, size, size)
    w = rnd(cout, cin // groups, k, k)
    b = rnd(cout)
    y = conv2d(x, w, b, stride, padding, dilation, groups)
    dy = rnd(*y.shape)
    dx, dw, db = conv_grads(x, w, dy, stride, padding, dilation, groups)
    return {"in": cin, "out": cout, "kernel": k, "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups,
            "x": arr(x), "weight": arr(w), "bias": arr(b), "dy": arr(dy),
            "y": arr(y), "dx": arr(dx), "dweight": arr(dw), "dbias": arr(db)}


def batchnorm2d_case():
    x = rnd(4, 3, 3, 3) * 2 + 0.5
    gamma, beta, dy = rnd(3), rnd(3), rnd(4, 3, 3, 3)
    eps, mom = 1e-5, 0.1
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=(0, 2, 3))
    var = ((x - mean[None, :, None, None]) ** 2).mean(axis=(0, 2, 3))
    inv = 1 / np.sqrt(var + eps)
    xh = (x - mean[None, :, None, None]) * inv[None, :, None, None]
    y = gamma[None, :, None, None] * xh + beta[None, :, None, None]
    dbeta = dy.sum(axis=(0, 2, 3))
    dgamma = (dy * xh).sum(axis=(0, 2, 3))
    # dx from the explicit derivative of y w.r.t. x through mean and variance
    dxh = dy * gamma[None, :, None, None]
    dvar = (dxh * (x - mean[None, :, None, None])).sum(axis=(0, 2, 3)) * -0.5 * inv ** 3
    dmean = (-dxh * inv[None, :, None, None]).sum(axis=(0, 2, 3)) + dvar * (-2 * (x - mean[None, :, None, None])).sum(axis=(0, 2, 3)) / m
    dx = dxh * inv[None, :, None, None] + dvar[None, :, None, None] * 2 * (x - mean[None, :, None, None]) / m + dmean[None, :, None, None] / m
    running_mean = (1 - mom) * 0 + mom * mean
    running_var = (1 - mom) * 1 + mom * var * m / (m - 1)
    # evaluation-mode output with the updated running statistics
    y_eval = gamma[None, :, None, None] * (x - running_mean[None, :, None, None]) / np.sqrt(running_var[None, :, None, None] + eps) + beta[None, :, None, None]
    return {"x": arr(x), "weight": arr(gamma), "bias": arr(beta), "dy": arr(dy), "y": arr(y), "dx": arr(dx),
            "dweight": arr(dgamma), "dbias": arr(dbeta), "running_mean": arr(running_mean),
            "running_var": arr(running_var), "y_eval": arr(y_eval)}


def cross_entropy_case():
    logits = rnd(4, 5) * 3
    labels = np.array([0, 3, 4, 1])
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(4), labels].mean()
    grad = np.exp(logp)
    grad[np.arange(4), labels] -= 1
    grad /= 4
    correct = int((logits.argmax(axis=1) == labels).sum())
    return {"logits": arr(logits), "labels": labels.tolist(), "loss": float(loss), "dlogits": arr(grad), "correct": correct}


def main():
    fixtures = {
        "linear": linear_case(),
        "conv": [
            conv_case(3, 4, 3, 7, stride=2, padding=1, dilation=1, groups=1),
            conv_case(2, 3, 3, 8, stride=1, padding=2, dilation=2, groups=1),
            conv_case(4, 6, 3, 6, stride=1, padding=1, dilation=1, groups=2),
            conv_case(3, 3, 3, 6, stride=2, padding=1, dilation=1, groups=3),   # depthwise
        ],
        "batchnorm2d": batchnorm2d_case(),
        "cross_entropy": cross_entropy_case(),
    }
    with open("Tests/NeuralNetTests/Fixtures/reference.json", "w") as f:
        json.dump(fixtures, f)
    print("wrote Tests/NeuralNetTests/Fixtures/reference.json")
    with open("Tests/NeuralNetTests/Fixtures/recurrent.json", "w") as f:
        json.dump(nn_fixtures_recurrent.recurrent_cases(), f)
    print("wrote Tests/NeuralNetTests/Fixtures/recurrent.json")
    with open("Tests/NeuralNetTests/Fixtures/transformer.json", "w") as f:
        json.dump(nn_fixtures_transformer.cases(), f)
    print("wrote Tests/NeuralNetTests/Fixtures/transformer.json")


if __name__ == "__main__":
    main()
