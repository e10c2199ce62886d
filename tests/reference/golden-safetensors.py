#!/usr/bin/python3
"""golden-safetensors.py: safetensors fixtures written independently of lib/.

tests/fixtures/safetensors/python.safetensors is written by hand here (struct +
json + numpy, torch for bfloat16 rounding), following the format's spec:
u64 LE header length, the JSON header padded with spaces, then the bytes.
Its header order differs from its data order, an F16 tensor of odd length
leaves the next F32 tensor unaligned, and it holds a scalar, an empty tensor,
an I64 tensor and non-ASCII metadata.  The conv.* tensors hold tricky f32
values next to numpy's float16 and torch's bfloat16 roundings of them
(round to nearest even), which test_safetensors compares with its writer.

tests/fixtures/safetensors/hf.safetensors is written by the safetensors
package itself (safetensors.torch.save_file) when it is installed
(pip install safetensors); otherwise the committed file is kept.

Run from the repository root with Debian's python3: `make golden`.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "safetensors")


def tricky_f32():
    """Values where rounding to f16/bf16 is easy to get wrong."""
    f = np.float32
    vals = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 65504, 65519.99, 65520, 65536, 1e5, -1e30,
            6.1035156e-05,          # smallest normal f16
            2.0 ** -24, 2.0 ** -25, 3 * 2.0 ** -26, 2.0 ** -26, 1.5 * 2.0 ** -24,
            2.0 ** -14 - 2.0 ** -25,  # just below the smallest normal
            1e-8, 1e-40,            # an f32 subnormal
            3.4028235e38, 1.0009765625, 1.00048828125, 1.000732421875,  # f16 ties
            1.00390625, 1.005859375, 1.0078125,  # bf16 tie (even down), odd up
            float("inf"), float("-inf"), float("nan")]
    # f32 neighbours of every f16 rounding midpoint in a few binades
    h = np.arange(0x3c00, 0x3c10, dtype=np.uint16).view(np.float16).astype(np.float32)
    mids = (h[:-1].astype(np.float64) + h[1:].astype(np.float64)) / 2
    for m in mids.astype(np.float32):
        vals += [np.nextafter(m, f(-np.inf)), m, np.nextafter(m, f(np.inf))]
    rng = np.random.default_rng(7)
    vals += list(rng.standard_normal(64) * 10.0 ** rng.integers(-9, 6, 64))
    return np.array(vals, dtype=np.float32)


def bf16_bits(x):
    return torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def write_safetensors(path, tensors, header_order, metadata):
    """tensors: list of (name, dtype string, shape, raw bytes) in data order."""
    header, at = {}, 0
    spans = {}
    for name, dtype, shape, raw in tensors:
        spans[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        at += len(raw)
    header["__metadata__"] = metadata
    for name in header_order:
        header[name] = spans[name]
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def main():
    os.makedirs(OUT, exist_ok=True)
    x = tricky_f32()
    with np.errstate(over="ignore"):
        x16 = x.astype(np.float16)     # large values overflow to inf, as wanted
    a = (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3)
    h = np.array([1, -2, 0.5, 65504, -np.inf], dtype=np.float16)
    b = np.array([1.0, -3.5, 0.15625], dtype=np.float32)
    c = np.array([2.5, -7.0], dtype=np.float32)
    tensors = [
        ("a.weight", "F32", a.shape, a.tobytes()),
        ("h", "F16", h.shape, h.tobytes()),             # 10 bytes: c is unaligned
        ("c", "F32", c.shape, c.tobytes()),
        ("b", "BF16", b.shape, bf16_bits(b).tobytes()),
        ("scalar", "F32", (), np.float32(3.25).tobytes()),
        ("empty", "F32", (0, 3), b""),
        ("ids", "I64", (2,), np.array([7, -1], dtype=np.int64).tobytes()),
        ("conv.x", "F32", x.shape, x.tobytes()),
        ("conv.x_f16", "F16", x.shape, x16.tobytes()),
        ("conv.x_bf16", "BF16", x.shape, bf16_bits(x).tobytes()),
    ]
    order = ["conv.x_bf16", "scalar", "b", "a.weight", "ids", "conv.x", "h", "empty",
             "conv.x_f16", "c"]
    meta = {"config": "[model]\nn_fft = 4096\nhop_length = 1024\n", "step": "12",
            "note": "d\u00e9j\u00e0 vu \u2713 \"quoted\""}
    write_safetensors(os.path.join(OUT, "python.safetensors"), tensors, order, meta)
    print("wrote", os.path.join(OUT, "python.safetensors"))

    try:
        from safetensors.torch import save_file
    except ImportError:
        print("safetensors package not installed: keeping hf.safetensors", file=sys.stderr)
        return
    save_file({"in.weight": torch.from_numpy(a), "in.bias": torch.from_numpy(c),
               "half": torch.from_numpy(h.astype(np.float32)).half(),
               "brain": torch.from_numpy(b).bfloat16()},
              os.path.join(OUT, "hf.safetensors"), metadata={"step": "3"})
    print("wrote", os.path.join(OUT, "hf.safetensors"))


if __name__ == "__main__":
    main()
