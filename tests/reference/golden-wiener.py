#!/usr/bin/python3
"""golden-wiener.py: norbert's Wiener EM, the reference of sepnet-fwd --wiener
(lib/ops/wiener.c) for test_wiener.

Run by `make golden` in the references' venv (norbert 0.2.1 from PyPI over
Debian's numpy and scipy) from the repository root.  Writes
tests/golden/wiener.snt: per case three SNT records, each with case=,
iterations=:
  x   c64 [C, F, T]     a random mixture spectrogram, some bins loud (so
                        norbert.wiener's scale max(1, max|x| / 10) is not 1)
  y0  c64 [S, C, F, T]  stems as a model makes them: random complex masks
                        times x
  y   c64 [S, C, F, T]  the tail of norbert.wiener (as Open-Unmix calls it
                        with softmask=False): s = max(1, max|x| / 10),
                        expectation_maximization(y0 / s, x / s, iterations,
                        eps=1e-10)[0] · s, in complex128 from the f32
                        values stored
Cases: stereo and mono, 1 and 2 iterations, four sources and two."""
import os
import struct

import numpy as np
import norbert

CASES = [  # name, S, C, F, T, iterations, loudness of x
    ("stereo-1", 4, 2, 9, 37, 1, 300.0),
    ("stereo-2", 4, 2, 9, 37, 2, 300.0),
    ("quiet", 4, 2, 6, 20, 1, 0.5),
    ("mono", 2, 1, 7, 25, 2, 50.0),
]
EPS = 1e-10


def snt_record(f, shape, keys, z):
    text = "dtype=c64\nshape=%s\n" % ",".join(map(str, shape))
    text += "".join("%s=%s\n" % kv for kv in keys)
    h = len(text.encode())
    h += (-(8 + h)) % 64
    f.write(b"SNT1" + struct.pack("<I", h) + text.encode().ljust(h, b"\n"))
    f.write(np.stack([z.real, z.imag], -1).astype("<f4").tobytes())


def c64(rng, shape, scale):
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return (scale * z).astype(np.complex64)


def main():
    rng = np.random.default_rng(20261206)
    os.makedirs("tests/golden", exist_ok=True)
    with open("tests/golden/wiener.snt", "wb") as f:
        for name, S, C, F, T, iterations, loud in CASES:
            x = c64(rng, (C, F, T), loud)
            x[:, 1, :] *= 4  # a loud bin
            y0 = (c64(rng, (S, 1, F, T), 0.4) * x[None]).astype(np.complex64)
            # norbert's layout: x (T, F, C), y (T, F, C, S)
            xn = x.astype(np.complex128).transpose(2, 1, 0)
            yn = y0.astype(np.complex128).transpose(3, 2, 1, 0)
            s = max(1.0, np.abs(xn).max() / 10.0)
            y = norbert.expectation_maximization(yn / s, xn / s, iterations, eps=EPS)[0] * s
            y = y.transpose(3, 2, 1, 0)
            keys = [("case", name), ("iterations", iterations)]
            snt_record(f, x.shape, keys + [("name", "x")], x)
            snt_record(f, y0.shape, keys + [("name", "y0")], y0)
            snt_record(f, y.shape, keys + [("name", "y")], y)
            print("%s: S=%d C=%d F=%d T=%d iterations=%d scale %.3g, |y - y0| / |y0| = %.3f"
                  % (name, S, C, F, T, iterations, s,
                     np.linalg.norm(y - y0) / np.linalg.norm(y0)))


if __name__ == "__main__":
    main()
