#!/usr/bin/python3
"""torch_bsroformer.py: the PyTorch side of bench-bsroformer.sh.

    torch_bsroformer.py train CONFIG THREADS STEPS
    torch_bsroformer.py separate CONFIG THREADS SECONDS REPEATS

The bs-roformer package's BSRoformer (tests/reference/bsroformer.py) as
sepnet runs the band-split model.  train: STEPS steps with the config's
batch_size and segment_length on random stems (speed does not depend on
them): mixture, sepnet's STFT, the model, iSTFT, sepnet's loss, backward,
clip_grad_norm_, AdamW; every step timed, the first included.  Prints
torch_eps= (examples per second).  separate: SECONDS of stereo noise
through the STFT, the model on segments of the training length overlapping
by 25 % (lib/dsp/chunk.h's), a cross-fade and the iSTFT under no_grad, best
of REPEATS.  Prints torch= (wall seconds), gflops= (OpenBLAS's sgemm rate
through numpy, 2048³) and flops_per_sec= (the model's forward FLOPs per
second of audio, the segments' overlap included).
"""
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import sepnet  # noqa: E402
from bsroformer import model_from_config, separate  # noqa: E402
sys.path.insert(0, HERE)
from torch_model import segments, sgemm_gflops  # noqa: E402


def flops_per_frame(text, widths, L):
    """Multiply-adds × 2 of one frame's forward with segments of L frames:
    the band split, every block's projections and attention (along L frames,
    and along the bands), the mask heads."""
    p = sepnet.configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    p.read_string(text)
    m = p["model"]
    d, h, A = m.getint("emb_dim"), m.getint("n_heads"), m.getint("attention_dim")
    H, layers = int(m.get("ffn_hidden_dim")), m.getint("n_layers")
    td, fd, md = m.getint("time_depth", 1), m.getint("freq_depth", 1), m.getint("mask_depth", 2)
    nb, din, S, hid = len(widths), 4 * sum(widths), len(m.get("sources").split(",")), 4 * d
    block = 3 * A * d + A * d + h * d + 2 * d * H
    blocks = nb * layers * (td * (block + 2 * L * A) + fd * (block + 2 * nb * A))
    head = S * (nb * (d * hid + (md - 2) * hid * hid) + hid * 2 * din) if md > 1 else S * d * 2 * din
    return 2 * (din * d + blocks + head)


def main():
    mode, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(path) as f:
        text = f.read()
    cfg = sepnet.Config(text)
    twin = sepnet.SepNet(cfg)  # its STFT, iSTFT and loss
    model, _ = model_from_config(text)
    t = sepnet.configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    t.read_string(text)
    t = t["train"]
    if mode == "train":
        steps = int(sys.argv[4])
        B, n = t.getint("batch_size"), cfg.segment_length
        opt = torch.optim.AdamW(model.parameters(), lr=t.getfloat("learning_rate"),
                                weight_decay=t.getfloat("weight_decay"))
        stems = torch.randn(B, cfg.S, cfg.C, n) * 0.1
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            X = twin.stft(stems.sum(1))
            Y = separate(model, X)
            y = twin.waveforms(Y, n)
            sepnet.loss_terms(twin, Y, y, stems)[0].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.getfloat("grad_clip"))
            opt.step()
        print(f"torch_eps={steps * B / (time.perf_counter() - start):.4f}")
        return
    secs, repeats = float(sys.argv[4]), int(sys.argv[5])
    n = int(secs * 44100)
    x = torch.randn(cfg.C, n) * 0.1
    model.eval()
    best = float("inf")
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            X = twin.stft(x)
            T = X.shape[-1]
            starts, L = segments(T, 1 + cfg.segment_length // cfg.hop)
            out = torch.zeros((cfg.S,) + tuple(X.shape), dtype=X.dtype)
            weight = torch.zeros(T)
            for s in starts:
                out[..., s:s + L] += separate(model, X[None, ..., s:s + L])[0]
                weight[s:s + L] += 1
            twin.waveforms((out / weight)[None], n)
            best = min(best, time.perf_counter() - start)
    starts, L = segments(T, 1 + cfg.segment_length // cfg.hop)
    _, widths = model_from_config(text)
    flops = len(starts) * L * flops_per_frame(text, widths, L) / secs
    print(f"torch={best:.4f} gflops={sgemm_gflops(threads):.1f} flops_per_sec={flops:.4g}")


if __name__ == "__main__":
    main()
