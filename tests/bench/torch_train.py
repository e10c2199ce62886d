#!/usr/bin/python3
"""torch_train.py: the PyTorch side of bench-train.sh.

    torch_train.py CONFIG THREADS STEPS

Takes STEPS training steps of the twin in tests/reference/sepnet.py with the
config's batch_size, gradient_accum, segment_length and dropout, as
sepnet-train takes them: per micro-batch the mixture (sum of the stems),
its STFT, the model, the iSTFT, the loss of docs/DESIGN.md §4 (loss_terms) and
backward; then clip_grad_norm_(grad_clip) and torch.optim.AdamW.  The stems
are random (speed does not depend on them).  Every step is timed, the
first included, as sepnet-train's examples/s counts it.  Prints a shell
assignment: torch_eps= (training examples per second).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import sepnet  # noqa: E402


def main():
    path, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(path) as f:
        text = f.read()
    cfg = sepnet.Config(text)
    train = sepnet.configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    train.read_string(text)
    t = train["train"]
    B, accum = t.getint("batch_size"), t.getint("gradient_accum")
    lr, wd, clip = t.getfloat("learning_rate"), t.getfloat("weight_decay"), t.getfloat("grad_clip")
    n = cfg.segment_length

    model = sepnet.SepNet(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=wd)
    stems = torch.randn(B, cfg.S, cfg.C, n) * 0.1
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        for _ in range(accum):
            X = model.stft(stems.sum(1))
            Y = model(X)
            y_hat = model.waveforms(Y, n)
            loss = sepnet.loss_terms(model, Y, y_hat, stems)[0] / accum
            loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    elapsed = time.perf_counter() - start
    print(f"torch_eps={steps * B * accum / elapsed:.3f}")


if __name__ == "__main__":
    main()
