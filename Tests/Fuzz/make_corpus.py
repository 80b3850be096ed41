#!/usr/bin/env python3
"""Writes the seed corpus of scripts/fuzz.sh: small valid inputs of every parser.

Targets that read a pair of files (idx: images + labels, npy: features + labels) take one
input: two bytes (little-endian) giving the first file's length, then both files.
Run from the repository root: python3 Tests/Fuzz/make_corpus.py
"""
import json, os, struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def pair(first, second):
    return struct.pack("<H", len(first)) + first + second


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def npy(descr, shape, payload, major=1):
    text = "(%s)" % "".join("%d," % d for d in shape) if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, text)
    prefix = 10 if major == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode() + payload


# IDX: an images/labels pair, and a labels file alone.
write("idx", "pair-2x3x3", pair(idx(0x803, [2, 3, 3], range(0, 180, 10)), idx(0x801, [2], [1, 7])))
write("idx", "pair-1x2x2", pair(idx(0x803, [1, 2, 2], [0, 255, 128, 3]), idx(0x801, [1], [9])))
write("idx", "labels", idx(0x801, [4], [0, 1, 2, 3]))

# NPY: features + labels in several dtypes and header versions.
write("npy", "f4-i8", pair(npy("<f4", [2, 4], struct.pack("<8f", *[0.5, 1, -2, 3.25, 0, 1e-3, 7, 8])),
                           npy("<i8", [2], struct.pack("<2q", 0, 1))))
write("npy", "u1-u1", pair(npy("|u1", [3, 2, 2], bytes(range(12))), npy("|u1", [3], bytes([2, 0, 1]))))
write("npy", "f8-i4-v2", pair(npy("<f8", [2], struct.pack("<2d", 1.5, -2), major=2),
                              npy("<i4", [2, 1], struct.pack("<2i", 1, 0), major=2)))
write("npy", "empty", pair(npy("<f4", [0, 3], b""), npy("<i8", [0], b"")))

# CSV: with and without a header, CRLF line ends, blank lines.
write("csv", "header", "label,a,b,c,d\n0,0.5,0.25,1,2\n1,0.1,0.9,-3,4e-2\n2,1,1,1,1\n")
write("csv", "plain-crlf", "1, 0.5, 2.5, 3, 4\r\n0,1,2,3,4\r\n\r\n2,9,8,7,6\r\n")
write("csv", "one-feature", "0,1\n1,2\n1,3\n")


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


write("safetensors", "linear", safetensors(
    [("0.bias", "F32", [3], struct.pack("<3f", 0.1, -0.2, 0.3)),
     ("0.weight", "F32", [3, 4], struct.pack("<12f", *[i / 10 for i in range(12)]))],
    {"format": "pt", "lockstep_step": "12"}))
write("safetensors", "dtypes", safetensors(
    [("a", "F64", [2], struct.pack("<2d", 1, 2)), ("b", "I64", [], struct.pack("<q", 5)),
     ("c", "I32", [1, 2], struct.pack("<2i", -1, 3))]))

# state.json: a consistent state of a run of mlp:4,3,2 (step 12: epoch 1, 4 steps into it).
state = {
    "configuration": {"accumulate": 1, "batchSize": 8, "bucketMB": 1, "data": "d.csv", "dataset": "csv",
                      "epochs": 2, "evalBatchSize": 500, "learningRate": 0.05, "model": "mlp:4,3,2",
                      "momentum": 0.9, "nesterov": False, "normalize": True, "optimizer": "sgd",
                      "scaleLR": False, "schedule": "cosine", "seed": 42, "syntheticCount": 4096,
                      "trainLimit": 64, "warmupSteps": 0, "weightDecay": 0.0005},
    "createdAt": "2026-12-02T15:37:56Z", "epoch": 1,
    "extra": {"global_batch": "8", "normalization": "{\"mean\":[0.5],\"std\":[1.25]}",
              "optimizer_steps": "12", "parameter_count": "23", "samples_in_epoch": "32"},
    "files": {"model.safetensors": "8a8ad725c292835e7134fcca49f0fd4f2a90ffc3d4e218d7f8d6e5a1698667d7",
              "optimizer.safetensors": "7736e0a59a9a6620b1baa5a2d202284052759620bb93482658c6ebab8095e714"},
    "formatVersion": 1, "lockstepVersion": "0.1.0",
    "rngState": [13679457532755275413, 2949826092126892291, 5139283748462763858, 6349198060258255764],
    "step": 12, "stepInEpoch": 4, "worldSize": 1,
}
write("state", "mid-epoch.json", json.dumps(state, indent=2, sort_keys=True) + "\n")
state.update(epoch=2, stepInEpoch=0, step=12)
state["extra"]["samples_in_epoch"] = "0"
write("state", "end.json", json.dumps(state, sort_keys=True))
# Version 2: the same position with typed fields instead of `extra`, and a monitor.
v2 = {k: v for k, v in state.items() if k != "extra"}
v2.update(formatVersion=2, epoch=1, stepInEpoch=4, step=12, globalBatch=8, optimizerSteps=12, parameterCount=23,
          samplesInEpoch=32, normalization={"mean": [0.5], "std": [1.25]},
          monitor={"best": 0.75, "bestEpoch": 1, "epochsWithoutImprovement": 0})
v2["configuration"] = dict(state["configuration"], task="classify", loss="cross-entropy")
write("state", "version-2.json", json.dumps(v2, indent=2, sort_keys=True) + "\n")

# Model files: the examples, a JSON description, and the broken files of the model-file tests.
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for folder in ("examples/models", "Tests/NeuralNetTests/Fixtures/bad-models"):
    for name in sorted(os.listdir(os.path.join(repo, folder))):
        if name.endswith((".yaml", ".yml", ".json")):
            with open(os.path.join(repo, folder, name), "rb") as f:
                write("model", ("bad-" if "bad" in folder else "") + name, f.read())
write("model", "mlp.json", json.dumps({"input": [4], "loss": "mse", "layers": [
    {"linear": {"out": 8, "init": "kaiming-uniform"}}, "relu", {"residual": [{"linear": {"out": 8}}, "tanh"]},
    {"dropout": {"p": 0.1}}, {"linear": {"out": 2}}, "log-softmax"]}))
