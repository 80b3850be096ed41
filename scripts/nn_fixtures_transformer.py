"""Reference values for the transformer family's layers (GELU, LayerNorm, Embedding,
PositionalEmbedding, MultiheadAttention, TransformerBlock), computed with NumPy in float64
from the definitions in PyTorch's documentation, written independently of the Swift code.

Every backward here is written out by hand and then checked against float64 central
differences of the scalar sum(dy * y) before it is written, so a fixture cannot carry a
wrong gradient. Called by scripts/make_nn_fixtures.py, which writes
Tests/NeuralNetTests/Fixtures/transformer.json.
"""
import math

import numpy as np

_rng = np.random.default_rng(20261202)


def _arr(a):
    return {"shape": list(np.shape(a)), "values": [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]}


def _rnd(*shape, scale=1.0):
    # float32-representable inputs, so Swift sees exactly the values the reference used
    return (scale * _rng.standard_normal(shape)).astype(np.float32).astype(np.float64)


def _erf(x):
    return np.vectorize(math.erf)(x)


# --- layers: forward returns (y, cache); backward(cache, dy) returns (dx, {name: grad}) ---

def gelu_forward(x, approximate):
    if approximate == "tanh":
        u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
        return 0.5 * x * (1 + np.tanh(u)), x
    return 0.5 * x * (1 + _erf(x / math.sqrt(2))), x


def gelu_backward(x, dy, approximate):
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (x + 0.044715 * x ** 3))
        return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * c * (1 + 3 * 0.044715 * x ** 2))
    cdf = 0.5 * (1 + _erf(x / math.sqrt(2)))
    pdf = np.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)
    return dy * (cdf + x * pdf)


def layernorm_forward(x, w, b, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    xh = (x - mean) * inv
    return w * xh + b, (xh, inv, w)


def layernorm_backward(cache, dy):
    xh, inv, w = cache
    lead = tuple(range(dy.ndim - 1))
    g = dy * w
    dx = inv * (g - g.mean(-1, keepdims=True) - xh * (g * xh).mean(-1, keepdims=True))
    return dx, {"weight": (dy * xh).sum(lead), "bias": dy.sum(lead)}


def linear_forward(x, w, b):
    return x @ w.T + b, x


def linear_backward(x, w, dy):
    x2, dy2 = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
    return dy @ w, {"weight": dy2.T @ x2, "bias": dy2.sum(0)}


def embedding_forward(ids, w):
    return w[ids]


def embedding_backward(ids, w, dy):
    dw = np.zeros_like(w)
    np.add.at(dw, ids.ravel(), dy.reshape(-1, w.shape[1]))
    return dw


def mha_forward(x, p, heads, causal):
    n, t, d = x.shape
    hd = d // heads
    qkv = x @ p["in_proj_weight"].T + p["in_proj_bias"]

    def split(a):  # [N, T, d] -> [N, H, T, hd]
        return a.reshape(n, t, heads, hd).transpose(0, 2, 1, 3)

    q, k, v = split(qkv[..., :d]), split(qkv[..., d:2 * d]), split(qkv[..., 2 * d:])
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd)
    if causal:
        s = np.where(np.triu(np.ones((t, t), dtype=bool), 1), -np.inf, s)
    s = s - s.max(-1, keepdims=True)
    e = np.exp(s)
    prob = e / e.sum(-1, keepdims=True)
    o = (prob @ v).transpose(0, 2, 1, 3).reshape(n, t, d)
    y = o @ p["out_proj.weight"].T + p["out_proj.bias"]
    return y, (x, q, k, v, prob, o, heads)


def mha_backward(cache, p, dy):
    x, q, k, v, prob, o, heads = cache
    n, t, d = x.shape
    hd = d // heads
    dy2, o2 = dy.reshape(-1, d), o.reshape(-1, d)
    grads = {"out_proj.weight": dy2.T @ o2, "out_proj.bias": dy2.sum(0)}
    do = (dy @ p["out_proj.weight"]).reshape(n, t, heads, hd).transpose(0, 2, 1, 3)
    dprob = do @ v.transpose(0, 1, 3, 2)
    dv = prob.transpose(0, 1, 3, 2) @ do
    ds = prob * (dprob - (dprob * prob).sum(-1, keepdims=True)) / math.sqrt(hd)
    dq = ds @ k
    dk = ds.transpose(0, 1, 3, 2) @ q

    def merge(a):  # [N, H, T, hd] -> [N, T, d]
        return a.transpose(0, 2, 1, 3).reshape(n, t, d)

    dqkv = np.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)
    grads["in_proj_weight"] = dqkv.reshape(-1, 3 * d).T @ x.reshape(-1, d)
    grads["in_proj_bias"] = dqkv.reshape(-1, 3 * d).sum(0)
    return dqkv @ p["in_proj_weight"], grads


def block_forward(x, p, heads, causal):
    def sub(prefix):
        return {k[len(prefix) + 1:]: v for k, v in p.items() if k.startswith(prefix + ".")}

    h1, c1 = layernorm_forward(x, p["ln1.weight"], p["ln1.bias"])
    a, ca = mha_forward(h1, sub("attn"), heads, causal)
    r = x + a
    h2, c2 = layernorm_forward(r, p["ln2.weight"], p["ln2.bias"])
    m1, _ = linear_forward(h2, p["mlp.0.weight"], p["mlp.0.bias"])
    g, _ = gelu_forward(m1, "none")
    m2, _ = linear_forward(g, p["mlp.2.weight"], p["mlp.2.bias"])
    return r + m2, (c1, ca, c2, h2, m1, g, sub)


def block_backward(cache, p, dy):
    c1, ca, c2, h2, m1, g, sub = cache
    grads = {}

    def put(prefix, gs):
        grads.update({prefix + "." + k: v for k, v in gs.items()})

    dg, gs = linear_backward(g, p["mlp.2.weight"], dy); put("mlp.2", gs)
    dm1 = gelu_backward(m1, dg, "none")
    dh2, gs = linear_backward(h2, p["mlp.0.weight"], dm1); put("mlp.0", gs)
    dr2, gs = layernorm_backward(c2, dh2); put("ln2", gs)
    dr = dy + dr2
    dh1, gs = mha_backward(ca, sub("attn"), dr); put("attn", gs)
    dx1, gs = layernorm_backward(c1, dh1); put("ln1", gs)
    return dr + dx1, grads


# --- self-check of every hand-written backward ---

def _check(f, inputs, dy, analytic, what):
    """Compares analytic gradients of sum(dy * f(**inputs)) with float64 central differences."""
    h = 1e-6
    for name, a in analytic.items():
        base = inputs[name]
        num = np.zeros_like(base)
        for i in np.ndindex(base.shape):
            saved = base[i]
            base[i] = saved + h
            plus = (dy * f(**inputs)).sum()
            base[i] = saved - h
            minus = (dy * f(**inputs)).sum()
            base[i] = saved
            num[i] = (plus - minus) / (2 * h)
        err = np.abs(num - a).max() / max(1.0, np.abs(num).max())
        assert err < 1e-6, f"{what}: analytic gradient of {name} is off by {err}"


# --- cases ---

def gelu_case(approximate):
    x, dy = _rnd(3, 4, 5, scale=2), _rnd(3, 4, 5)
    y, _ = gelu_forward(x, approximate)
    dx = gelu_backward(x, dy, approximate)
    _check(lambda x: gelu_forward(x, approximate)[0], {"x": x}, dy, {"x": dx}, "gelu")
    return {"approximate": approximate, "x": _arr(x), "dy": _arr(dy), "y": _arr(y), "dx": _arr(dx)}


def layernorm_case(shape):
    c = shape[-1]
    x, w, b, dy = _rnd(*shape, scale=2) + 0.5, _rnd(c), _rnd(c), _rnd(*shape)
    y, cache = layernorm_forward(x, w, b)
    dx, g = layernorm_backward(cache, dy)
    _check(lambda x, w, b: layernorm_forward(x, w, b)[0], {"x": x, "w": w, "b": b}, dy,
           {"x": dx, "w": g["weight"], "b": g["bias"]}, "layernorm")
    return {"x": _arr(x), "weight": _arr(w), "bias": _arr(b), "dy": _arr(dy), "y": _arr(y), "dx": _arr(dx),
            "dweight": _arr(g["weight"]), "dbias": _arr(g["bias"])}


def embedding_case():
    num, dim = 7, 4
    ids = np.array([[0, 3, 3, 6, 1], [6, 2, 3, 0, 0]])   # repeats: the scatter must add
    w, dy = _rnd(num, dim), _rnd(2, 5, dim)
    y = embedding_forward(ids, w)
    dw = embedding_backward(ids, w, dy)
    _check(lambda w: embedding_forward(ids, w), {"w": w}, dy, {"w": dw}, "embedding")
    return {"ids": _arr(ids.astype(np.float64)), "weight": _arr(w), "dy": _arr(dy), "y": _arr(y), "dweight": _arr(dw)}


def positional_case():
    max_length, t, dim = 6, 5, 4
    x, w, dy = _rnd(2, t, dim), _rnd(max_length, dim), _rnd(2, t, dim)
    y = x + w[:t]
    dw = np.zeros_like(w)
    dw[:t] = dy.sum(0)
    _check(lambda x, w: x + w[:t], {"x": x, "w": w}, dy, {"x": dy, "w": dw}, "positional")
    return {"max_length": max_length, "x": _arr(x), "weight": _arr(w), "dy": _arr(dy), "y": _arr(y),
            "dx": _arr(dy), "dweight": _arr(dw)}


MHA_NAMES = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
BLOCK_NAMES = (["ln1.weight", "ln1.bias"] + ["attn." + k for k in MHA_NAMES]
               + ["ln2.weight", "ln2.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"])


def _named_case(names, p, x, dy, y, dx, grads, **extra):
    case = dict(extra)
    case.update({"x": _arr(x), "dy": _arr(dy), "y": _arr(y), "dx": _arr(dx),
                 "names": names,
                 "parameters": {k: _arr(p[k]) for k in names},
                 "gradients": {k: _arr(grads[k]) for k in names}})
    return case


def mha_case(causal):
    n, t, d, heads = 2, 5, 8, 2
    p = {"in_proj_weight": _rnd(3 * d, d, scale=0.5), "in_proj_bias": _rnd(3 * d, scale=0.5),
         "out_proj.weight": _rnd(d, d, scale=0.5), "out_proj.bias": _rnd(d, scale=0.5)}
    x, dy = _rnd(n, t, d), _rnd(n, t, d)
    y, cache = mha_forward(x, p, heads, causal)
    dx, grads = mha_backward(cache, p, dy)

    def f(x, **q):
        return mha_forward(x, {k: q[k.replace(".", "_")] for k in MHA_NAMES}, heads, causal)[0]

    inputs = {"x": x, **{k.replace(".", "_"): p[k] for k in MHA_NAMES}}
    _check(f, inputs, dy, {"x": dx, **{k.replace(".", "_"): grads[k] for k in MHA_NAMES}}, "attention")
    return _named_case(MHA_NAMES, p, x, dy, y, dx, grads, dim=d, heads=heads, causal=causal)


def block_case():
    n, t, d, heads, ratio = 2, 5, 8, 2, 4
    shapes = {"ln1.weight": (d,), "ln1.bias": (d,), "attn.in_proj_weight": (3 * d, d), "attn.in_proj_bias": (3 * d,),
              "attn.out_proj.weight": (d, d), "attn.out_proj.bias": (d,), "ln2.weight": (d,), "ln2.bias": (d,),
              "mlp.0.weight": (ratio * d, d), "mlp.0.bias": (ratio * d,), "mlp.2.weight": (d, ratio * d),
              "mlp.2.bias": (d,)}
    p = {k: _rnd(*s, scale=0.5) for k, s in shapes.items()}
    p["ln1.weight"] += 1
    p["ln2.weight"] += 1
    x, dy = _rnd(n, t, d), _rnd(n, t, d)
    y, cache = block_forward(x, p, heads, True)
    dx, grads = block_backward(cache, p, dy)

    def f(x, **q):
        return block_forward(x, {k: q[k.replace(".", "_")] for k in BLOCK_NAMES}, heads, True)[0]

    inputs = {"x": x, **{k.replace(".", "_"): p[k] for k in BLOCK_NAMES}}
    _check(f, inputs, dy, {"x": dx, **{k.replace(".", "_"): grads[k] for k in BLOCK_NAMES}}, "block")
    return _named_case(BLOCK_NAMES, p, x, dy, y, dx, grads, dim=d, heads=heads, mlp_ratio=ratio, causal=True)


def cases():
    """The transformer fixtures, in a fixed order from this module's own seed."""
    return {
        "gelu": [gelu_case("none"), gelu_case("tanh")],
        "layernorm": [layernorm_case((4, 6)), layernorm_case((2, 3, 8))],
        "embedding": embedding_case(),
        "positional_embedding": positional_case(),
        "attention": [mha_case(True), mha_case(False)],
        "block": block_case(),
    }
