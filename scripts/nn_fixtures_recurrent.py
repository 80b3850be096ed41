"""Reference values for the recurrent and decoder layers (Tests/NeuralNetTests/
RecurrentLayerTests.swift, DecoderLayerTests.swift), in NumPy float64, written step by
step from PyTorch's documented formulas, independently of the Swift code.

Each backward here is checked against central finite differences of its own forward
(in float64) before a case is returned, so a wrong reference cannot be written.

Called by scripts/make_nn_fixtures.py, which writes Tests/NeuralNetTests/Fixtures/recurrent.json.
"""
import numpy as np

rng = np.random.default_rng(20261202)


def arr(a):
    return {"shape": list(np.shape(a)), "values": [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]}


def rnd(*shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32).astype(np.float64)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------- LSTM

def lstm_layer_forward(x, w_ih, w_hh, b_ih, b_hh):
    """x [N, T, C] -> hs [N, T, H] and what backward needs (gate order i, f, g, o)."""
    n, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h = np.zeros((n, hidden))
    c = np.zeros((n, hidden))
    hs, cache = np.zeros((n, steps, hidden)), []
    for t in range(steps):
        a = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i = sigmoid(a[:, :hidden])
        f = sigmoid(a[:, hidden:2 * hidden])
        g = np.tanh(a[:, 2 * hidden:3 * hidden])
        o = sigmoid(a[:, 3 * hidden:])
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        hs[:, t] = h
        cache.append((i, f, g, o, c_prev, c, h_prev))
    return hs, cache


def lstm_layer_backward(x, w_ih, w_hh, cache, dhs):
    n, steps, _ = x.shape
    hidden = w_hh.shape[1]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db = np.zeros(4 * hidden)
    dh_next = np.zeros((n, hidden))
    dc_next = np.zeros((n, hidden))
    for t in reversed(range(steps)):
        i, f, g, o, c_prev, c, h_prev = cache[t]
        dh = dhs[:, t] + dh_next
        tc = np.tanh(c)
        do = dh * tc
        dc = dc_next + dh * o * (1 - tc ** 2)
        di, df, dg = dc * g, dc * c_prev, dc * i
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
        dw_ih += da.T @ x[:, t]
        dw_hh += da.T @ h_prev
        db += da.sum(0)
        dx[:, t] = da @ w_ih
        dh_next = da @ w_hh
        dc_next = dc * f
    return dx, dw_ih, dw_hh, db


# ---------------------------------------------------------------- GRU

def gru_layer_forward(x, w_ih, w_hh, b_ih, b_hh):
    """x [N, T, C] -> hs [N, T, H]; PyTorch's GRU (gate order r, z, n; r on W_hn h + b_hn)."""
    n, steps, _ = x.shape
    hidden = w_hh.shape[1]
    h = np.zeros((n, hidden))
    hs, cache = np.zeros((n, steps, hidden)), []
    for t in range(steps):
        gi = x[:, t] @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        r = sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
        nn = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
        h_prev = h
        h = (1 - z) * nn + z * h_prev
        hs[:, t] = h
        cache.append((r, z, nn, gh[:, 2 * hidden:], h_prev))
    return hs, cache


def gru_layer_backward(x, w_ih, w_hh, cache, dhs):
    n, steps, _ = x.shape
    hidden = w_hh.shape[1]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros(3 * hidden), np.zeros(3 * hidden)
    dh_next = np.zeros((n, hidden))
    for t in reversed(range(steps)):
        r, z, nn, ghn, h_prev = cache[t]
        dh = dhs[:, t] + dh_next
        dn = dh * (1 - z) * (1 - nn ** 2)          # d(pre-activation of n)
        dz = dh * (h_prev - nn) * z * (1 - z)
        dr = dn * ghn * r * (1 - r)
        dgi = np.concatenate([dr, dz, dn], axis=1)
        dgh = np.concatenate([dr, dz, dn * r], axis=1)
        dw_ih += dgi.T @ x[:, t]
        dw_hh += dgh.T @ h_prev
        db_ih += dgi.sum(0)
        db_hh += dgh.sum(0)
        dx[:, t] = dgi @ w_ih
        dh_next = dh * z + dgh @ w_hh
    return dx, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------- stacks

def recurrent_params(kind, input_size, hidden, layers):
    gates = 4 if kind == "lstm" else 3
    bound = 1 / np.sqrt(hidden)
    params = {}
    for layer in range(layers):
        c = input_size if layer == 0 else hidden
        for name, shape in (("weight_ih", (gates * hidden, c)), ("weight_hh", (gates * hidden, hidden)),
                            ("bias_ih", (gates * hidden,)), ("bias_hh", (gates * hidden,))):
            # wider than PyTorch's init so that gates saturate in places
            params[f"{name}_l{layer}"] = rng.uniform(-3 * bound, 3 * bound, shape).astype(np.float32).astype(np.float64)
    return params


def stack_forward(kind, x, params, layers):
    caches, inputs = [], []
    h = x
    for layer in range(layers):
        p = [params[f"{k}_l{layer}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        inputs.append(h)
        h, cache = (lstm_layer_forward if kind == "lstm" else gru_layer_forward)(h, *p)
        caches.append(cache)
    return h, (caches, inputs)


def stack_backward(kind, params, layers, saved, dy):
    caches, inputs = saved
    grads = {}
    g = dy
    for layer in reversed(range(layers)):
        w_ih, w_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        if kind == "lstm":
            g, dw_ih, dw_hh, db = lstm_layer_backward(inputs[layer], w_ih, w_hh, caches[layer], g)
            db_ih = db_hh = db
        else:
            g, dw_ih, dw_hh, db_ih, db_hh = gru_layer_backward(inputs[layer], w_ih, w_hh, caches[layer], g)
        grads[f"weight_ih_l{layer}"], grads[f"weight_hh_l{layer}"] = dw_ih, dw_hh
        grads[f"bias_ih_l{layer}"], grads[f"bias_hh_l{layer}"] = db_ih, db_hh
    return g, grads


def check_against_finite_differences(forward, tensors, grads, dy, what, h=1e-6):
    """Asserts that `grads` (analytic) match central differences of sum(dy * forward())."""
    for name, t in tensors.items():
        numeric = np.zeros_like(t)
        flat, nflat = t.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            saved = flat[k]
            flat[k] = saved + h
            plus = (forward() * dy).sum()
            flat[k] = saved - h
            minus = (forward() * dy).sum()
            flat[k] = saved
            nflat[k] = (plus - minus) / (2 * h)
        err = np.abs(numeric - grads[name]).max() / max(1.0, np.abs(numeric).max())
        assert err < 1e-6, f"{what}: reference gradient of {name} is off by {err}"


def recurrent_case(kind, n, steps, input_size, hidden, layers):
    x = rnd(n, steps, input_size)
    params = recurrent_params(kind, input_size, hidden, layers)
    y, saved = stack_forward(kind, x, params, layers)
    dy = rnd(*y.shape)
    dx, grads = stack_backward(kind, params, layers, saved, dy)
    check_against_finite_differences(lambda: stack_forward(kind, x, params, layers)[0],
                                     {"x": x, **params}, {"x": dx, **grads}, dy, f"{kind} {layers} layers")
    case = {"kind": kind, "input_size": input_size, "hidden_size": hidden, "layers": layers,
            "x": arr(x), "dy": arr(dy), "y": arr(y), "dx": arr(dx),
            "parameters": {k: arr(v) for k, v in params.items()},
            "gradients": {k: arr(v) for k, v in grads.items()}}
    return case


# ---------------------------------------------------------------- decoders and Conv1d

def conv1d(x, w, b, stride, padding, dilation):
    n, c, length = x.shape
    o, _, k = w.shape
    out = (length + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    y = np.zeros((n, o, out))
    for s in range(n):
        for oc in range(o):
            for q in range(out):
                acc = b[oc]
                for ci in range(c):
                    for j in range(k):
                        i = q * stride - padding + j * dilation
                        if 0 <= i < length:
                            acc += w[oc, ci, j] * x[s, ci, i]
                y[s, oc, q] = acc
    return y


def conv1d_grads(x, w, dy, stride, padding, dilation):
    n, c, length = x.shape
    o, _, k = w.shape
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for s in range(n):
        for oc in range(o):
            for q in range(dy.shape[2]):
                for ci in range(c):
                    for j in range(k):
                        i = q * stride - padding + j * dilation
                        if 0 <= i < length:
                            dw[oc, ci, j] += dy[s, oc, q] * x[s, ci, i]
                            dx[s, ci, i] += dy[s, oc, q] * w[oc, ci, j]
    return dx, dw, dy.sum(axis=(0, 2))


def conv_transpose2d(x, w, b, stride, padding, output_padding):
    """PyTorch's definition: input pixel (iy, ix) spreads w[c, o] onto output
    (iy·s - p + i, ix·s - p + j); the output side is (H-1)·s - 2p + k + output_padding."""
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    oh = (h - 1) * stride - 2 * padding + k + output_padding
    ow = (wd - 1) * stride - 2 * padding + k + output_padding
    y = np.zeros((n, o, oh, ow)) + b[None, :, None, None]
    for s in range(n):
        for ci in range(c):
            for iy in range(h):
                for ix in range(wd):
                    for oc in range(o):
                        for i in range(k):
                            for j in range(k):
                                yy, xx = iy * stride - padding + i, ix * stride - padding + j
                                if 0 <= yy < oh and 0 <= xx < ow:
                                    y[s, oc, yy, xx] += x[s, ci, iy, ix] * w[ci, oc, i, j]
    return y


def conv_transpose2d_grads(x, w, dy, stride, padding):
    n, c, h, wd = x.shape
    _, o, k, _ = w.shape
    oh, ow = dy.shape[2], dy.shape[3]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for s in range(n):
        for ci in range(c):
            for iy in range(h):
                for ix in range(wd):
                    for oc in range(o):
                        for i in range(k):
                            for j in range(k):
                                yy, xx = iy * stride - padding + i, ix * stride - padding + j
                                if 0 <= yy < oh and 0 <= xx < ow:
                                    dx[s, ci, iy, ix] += dy[s, oc, yy, xx] * w[ci, oc, i, j]
                                    dw[ci, oc, i, j] += dy[s, oc, yy, xx] * x[s, ci, iy, ix]
    return dx, dw, dy.sum(axis=(0, 2, 3))


def conv1d_case(cin, cout, k, length, stride, padding, dilation):
    x, w, b = rnd(2, cin, length), rnd(cout, cin, k), rnd(cout)
    y = conv1d(x, w, b, stride, padding, dilation)
    dy = rnd(*y.shape)
    dx, dw, db = conv1d_grads(x, w, dy, stride, padding, dilation)
    check_against_finite_differences(lambda: conv1d(x, w, b, stride, padding, dilation),
                                     {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db}, dy, "conv1d")
    return {"in": cin, "out": cout, "kernel": k, "stride": stride, "padding": padding, "dilation": dilation,
            "x": arr(x), "weight": arr(w), "bias": arr(b), "dy": arr(dy),
            "y": arr(y), "dx": arr(dx), "dweight": arr(dw), "dbias": arr(db)}


def conv_transpose2d_case(cin, cout, k, size, stride, padding, output_padding):
    x, w, b = rnd(2, cin, size, size + 1), rnd(cin, cout, k, k), rnd(cout)
    y = conv_transpose2d(x, w, b, stride, padding, output_padding)
    dy = rnd(*y.shape)
    dx, dw, db = conv_transpose2d_grads(x, w, dy, stride, padding)
    check_against_finite_differences(lambda: conv_transpose2d(x, w, b, stride, padding, output_padding),
                                     {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db}, dy, "conv_transpose2d")
    return {"in": cin, "out": cout, "kernel": k, "stride": stride, "padding": padding,
            "output_padding": output_padding,
            "x": arr(x), "weight": arr(w), "bias": arr(b), "dy": arr(dy),
            "y": arr(y), "dx": arr(dx), "dweight": arr(dw), "dbias": arr(db)}


def upsample_case(scale):
    x = rnd(2, 3, 3, 4)
    y = x.repeat(scale, axis=2).repeat(scale, axis=3)
    dy = rnd(*y.shape)
    n, c, h, w = x.shape
    dx = dy.reshape(n, c, h, scale, w, scale).sum(axis=(3, 5))
    return {"scale": scale, "x": arr(x), "dy": arr(dy), "y": arr(y), "dx": arr(dx)}


def recurrent_cases():
    """Every case of recurrent.json, keyed by name."""
    return {
        "lstm": [recurrent_case("lstm", 3, 5, 4, 3, 1), recurrent_case("lstm", 2, 4, 3, 5, 2)],
        "gru": [recurrent_case("gru", 3, 5, 4, 3, 1), recurrent_case("gru", 2, 4, 3, 5, 2)],
        "conv1d": [conv1d_case(3, 4, 3, 9, 1, 1, 1), conv1d_case(2, 3, 3, 11, 2, 2, 2)],
        "conv_transpose2d": [conv_transpose2d_case(3, 2, 3, 3, 2, 1, 1), conv_transpose2d_case(2, 3, 4, 3, 2, 1, 0),
                             conv_transpose2d_case(2, 2, 3, 4, 1, 0, 0)],
        "upsample": [upsample_case(2), upsample_case(3)],
    }
