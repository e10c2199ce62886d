#!/usr/bin/python3
"""torch_model.py: the PyTorch side of bench-model.sh.

    torch_model.py CHECKPOINT SECONDS THREADS REPEATS

Runs what `stft | sepnet-fwd | istft` does on SECONDS of stereo noise with
the twin of tests/reference/sepnet.py under torch.no_grad(): STFT, the model
on segments of the training length overlapping by 25 % (the same segments
as lib/chunk.h), a linear cross-fade, iSTFT of every stem.  Also measures
the sgemm rate of OpenBLAS through numpy (a 2048³ product, the same library
sepnet links) and counts the model's FLOPs per second of audio.  Prints
shell assignments: torch= (best wall seconds) gflops= (sgemm rate)
flops_per_sec= (model FLOPs per audio second).
"""
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import sepnet  # noqa: E402


def segments(T, L, overlap=0.25):
    """Segment starts as lib/chunk.h makes them: step L - round(overlap L),
    the last moved back to end at T."""
    if T <= L:
        return [0], T
    step = L - int(round(overlap * L))
    starts = list(range(0, T - L + 1, step))
    if starts[-1] + L < T:
        starts.append(T - L)
    return starts, L


def separate(model, x, n):
    cfg = model.cfg
    X = model.stft(x)  # (C, F, T)
    T = X.shape[-1]
    starts, L = segments(T, 1 + cfg.segment_length // cfg.hop)
    out = torch.zeros((cfg.S,) + tuple(X.shape), dtype=X.dtype)
    weight = torch.zeros(T)
    ramp = torch.ones(L)
    for s in starts:
        Y = model(X[None, ..., s:s + L])[0]
        out[..., s:s + L] += Y * ramp
        weight[s:s + L] += ramp
    out = out / weight
    return model.waveforms(out[None], n)


def model_flops_per_frame(cfg, L):
    """Multiply-adds × 2 of one frame's forward with segments of L frames."""
    d, A, Din, Dout = cfg.d, cfg.A, 2 * cfg.C * cfg.F, cfg.S * 2 * cfg.C * cfg.F
    widths = [d] + cfg.ffn + [d]
    block = 4 * A * d + sum(widths[j] * widths[j + 1] for j in range(len(widths) - 1))
    attention = 2 * L * A  # q kᵀ and p v
    return 2 * (Din * d + cfg.n_layers * (block + attention) + d * Dout)


def sgemm_gflops(threads):
    n = 2048
    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    a @ b
    best = 1e99
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def main():
    path, seconds, threads, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    tensors, meta = sepnet.load_safetensors(path)
    model = sepnet.SepNet(sepnet.Config(meta["config"]))
    model.load(tensors)
    model.eval()
    cfg = model.cfg
    n = int(seconds * 44100)
    x = torch.randn(2, n) * 0.1
    best = 1e99
    with torch.no_grad():
        separate(model, x[:, :cfg.segment_length], cfg.segment_length)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            separate(model, x, n)
            best = min(best, time.perf_counter() - t)
    T = 1 + n // cfg.hop
    starts, L = segments(T, 1 + cfg.segment_length // cfg.hop)
    flops = len(starts) * L * model_flops_per_frame(cfg, L) / seconds
    print(f"torch={best:.3f} gflops={sgemm_gflops(threads):.1f} flops_per_sec={flops:.4g}")


if __name__ == "__main__":
    main()
