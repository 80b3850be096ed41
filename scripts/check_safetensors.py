#!/usr/bin/env python3
"""Load a safetensors file with the Python `safetensors` package and check its layout.

Prints every tensor's name, dtype and shape (and the file's metadata). With --expect,
also checks the file holds exactly the given tensors with the given shapes (and dtypes,
when given); extra tensors fail the check unless --allow-extra is passed.

    scripts/check_safetensors.py runs/ckpt/step-000000938/model.safetensors \
        --expect 0.weight:16,1,3,3 0.bias:16 1.num_batches_tracked::I64

Each expectation is NAME:SHAPE or NAME:SHAPE:DTYPE; SHAPE is comma-separated dimensions,
empty for a scalar. Exit status: 0 loaded (and matched), 1 expectation not met,
2 the file does not load or the arguments are wrong.

Needs: numpy and safetensors (`pip install numpy safetensors`).
"""

import argparse
import sys

# safetensors' dtype names for the NumPy dtypes it produces.
NUMPY_TO_SAFETENSORS = {
    "bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
    "float16": "F16", "int32": "I32", "uint32": "U32", "float32": "F32",
    "float64": "F64", "int64": "I64", "uint64": "U64",
}


def parse_expectation(text):
    """'0.weight:16,1,3,3[:F32]' -> ('0.weight', (16, 1, 3, 3), 'F32' or None)."""
    parts = text.split(":")
    dtype = None
    if len(parts) >= 3 and parts[-1].isalnum() and parts[-1].upper() == parts[-1] and not parts[-1].isdigit():
        dtype = parts.pop()
    if len(parts) < 2 or not parts[0]:
        raise ValueError(f"expectation '{text}' is not NAME:SHAPE or NAME:SHAPE:DTYPE")
    shape_text = parts.pop()
    name = ":".join(parts)
    try:
        shape = tuple(int(d) for d in shape_text.split(",")) if shape_text.strip() else ()
    except ValueError:
        raise ValueError(f"expectation '{text}': shape '{shape_text}' is not comma-separated integers") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"expectation '{text}': shape has a negative dimension")
    return name, shape, dtype


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a .safetensors file, e.g. a checkpoint's model.safetensors")
    parser.add_argument("--expect", nargs="+", default=None, metavar="NAME:SHAPE[:DTYPE]",
                        help="the tensors the file must hold, e.g. 0.weight:16,1,3,3 0.bias:16")
    parser.add_argument("--allow-extra", action="store_true",
                        help="with --expect, accept tensors the expectation does not list")
    args = parser.parse_args(argv)

    try:
        expected = [parse_expectation(e) for e in (args.expect or [])]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    try:
        import numpy  # noqa: F401  (safetensors.numpy needs it)
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as error:
        print(f"error: {error}; install the packages with `pip install numpy safetensors`", file=sys.stderr)
        return 2

    try:
        tensors = load_file(args.path)
        with safe_open(args.path, framework="np") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:  # the package raises several types for bad files
        print(f"error: {args.path} does not load as safetensors: {type(error).__name__}: {error}", file=sys.stderr)
        return 2

    found = {}
    width = max((len(n) for n in tensors), default=0)
    for name in sorted(tensors):
        array = tensors[name]
        dtype = NUMPY_TO_SAFETENSORS.get(str(array.dtype), str(array.dtype))
        found[name] = (tuple(array.shape), dtype)
        print(f"{name:<{width}}  {dtype:<4}  {list(array.shape)}")
    for key in sorted(metadata):
        print(f"metadata {key} = {metadata[key]!r}")
    print(f"{len(tensors)} tensors, {sum(a.size for a in tensors.values())} elements")

    if args.expect is None:
        return 0
    problems = []
    expected_names = set()
    for name, shape, dtype in expected:
        expected_names.add(name)
        if name not in found:
            problems.append(f"missing {name} (expected shape {list(shape)})")
            continue
        found_shape, found_dtype = found[name]
        if found_shape != shape:
            problems.append(f"{name}: expected shape {list(shape)}, found {list(found_shape)}")
        if dtype is not None and found_dtype != dtype:
            problems.append(f"{name}: expected dtype {dtype}, found {found_dtype}")
    if not args.allow_extra:
        for name in sorted(set(found) - expected_names):
            problems.append(f"unexpected {name} (shape {list(found[name][0])})")
    if problems:
        print(f"FAIL: {args.path} does not match the expected layout:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("OK: layout matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
