#!/usr/bin/python3
"""golden-stft.py: torch.stft / torch.istft reference data for test_stft.

Run by `make golden` (Debian's python3-torch) from the repository root.
Writes tests/golden/stft-NAME.snt, one file per case, four SNT records:
  x      f32 [C, n]     random signal (fixed seed)
  stft   c64 [C, F, T]  torch.stft(x, center=True, reflect, periodic Hann)
  spec   c64 [C, F, T]  a random spectrogram, not the STFT of any signal
                        (imaginary DC and Nyquist parts included), so the
                        inverse's overlap-add and envelope are tested on
                        their own rather than through perfect reconstruction
  istft  f32 [C, n]     torch.istft(spec, center=True, length=n)
Every record carries n_fft=, hop=, length=.  The cases cover the configs'
n_fft/hop pairs, a hop that does not divide n_fft, a length that is not a
multiple of hop and one shorter than n_fft."""
import os
import struct

import torch

CASES = [  # name, n_fft, hop, channels, length
    ("512-128", 512, 128, 1, 3001),
    ("2048-512", 2048, 512, 2, 3333),
    ("4096-1024-short", 4096, 1024, 1, 2500),
    ("256-100", 256, 100, 1, 1234),
]


def snt_record(f, dtype, shape, keys, payload):
    text = "dtype=%s\nshape=%s\n" % (dtype, ",".join(map(str, shape)))
    text += "".join("%s=%s\n" % kv for kv in keys)
    h = len(text.encode())
    h += (-(8 + h)) % 64
    f.write(b"SNT1" + struct.pack("<I", h) + text.encode().ljust(h, b"\n"))
    f.write(payload)


def c64(z):
    return torch.view_as_real(z.contiguous()).contiguous().numpy().astype("<f4").tobytes()


def main():
    gen = torch.Generator().manual_seed(20261129)
    os.makedirs("tests/golden", exist_ok=True)
    for name, n_fft, hop, channels, n in CASES:
        window = torch.hann_window(n_fft, periodic=True)
        x = 0.5 * torch.randn(channels, n, generator=gen)
        X = torch.stft(x, n_fft, hop_length=hop, window=window, center=True,
                       pad_mode="reflect", normalized=False, onesided=True,
                       return_complex=True)
        Z = torch.complex(torch.randn(X.shape, generator=gen),
                          torch.randn(X.shape, generator=gen))
        y = torch.istft(Z, n_fft, hop_length=hop, window=window, center=True,
                        normalized=False, onesided=True, length=n)
        keys = [("n_fft", n_fft), ("hop", hop), ("length", n)]
        path = "tests/golden/stft-%s.snt" % name
        with open(path, "wb") as f:
            snt_record(f, "f32", x.shape, [("name", "x")] + keys,
                       x.numpy().astype("<f4").tobytes())
            snt_record(f, "c64", X.shape, [("name", "stft")] + keys, c64(X))
            snt_record(f, "c64", Z.shape, [("name", "spec")] + keys, c64(Z))
            snt_record(f, "f32", y.shape, [("name", "istft")] + keys,
                       y.numpy().astype("<f4").tobytes())
        print("%s: x %s, stft %s" % (path, list(x.shape), list(X.shape)))


if __name__ == "__main__":
    main()
