#!/usr/bin/python3
"""golden-model.py: golden data of the model for tests/unit/test_model.c.

Run by `make golden` (Debian's python3-torch).  Writes into tests/golden/:

  model-tiny.safetensors     a configs/tiny.ini checkpoint: a fresh init
                             (docs/DESIGN.md §4) with every tensor moved off its
                             initial value (W_out and b_out included, norms
                             and biases too) so that every gradient flows and
                             a forgotten bias would show
  model-tiny-io.safetensors  for a batch of 2 random 4-stem examples:
                             stems (B,S,C,N), x = STFT(mixture) (B,C,F,T,2),
                             yspec (B,S,C,F,T,2), ywave (B,S,C,N), loss
                             and its terms (f64), and grad.NAME for every
                             parameter, all from tests/reference/sepnet.py

Dropout is 0 in tiny.ini, so the comparison is deterministic.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sepnet  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
B, N = 2, 2000  # 2 examples of 2000 samples: 16 frames at hop 128


def init_params(model, rng):
    cfg = model.cfg
    out = {}
    for name, p in model.state_dict().items():
        shape = tuple(p.shape)
        if name.endswith("norm.weight"):
            v = 1 + 0.1 * rng.standard_normal(shape)
        elif name == "out.bias":
            v = 0.05 * rng.standard_normal(shape)
            v.reshape(cfg.S, 2, -1)[:, 0] += 1 / cfg.S
        elif name.endswith(".bias"):
            v = 0.02 * rng.standard_normal(shape)
        else:
            std = 0.02
            if name.endswith("attn.wo.weight") or name.endswith(f"ffn.{len(cfg.ffn)}.weight"):
                std /= np.sqrt(2 * cfg.n_layers)
            v = std * rng.standard_normal(shape)
        out[name] = v.astype(np.float32)
    return out


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(20261129)
    with open(os.path.join(ROOT, "configs", "tiny.ini")) as f:
        config_text = f.read()
    cfg = sepnet.Config(config_text)
    model = sepnet.SepNet(cfg)
    params = init_params(model, rng)
    model.load(params)
    n_params = sum(v.size for v in params.values())
    sepnet.save_safetensors(os.path.join(GOLDEN, "model-tiny.safetensors"), params,
                            {"format": "sepnet", "config": config_text, "n_params": n_params})

    stems = sepnet.golden_stems(rng, cfg, B, N)
    io, (loss, sd, l1, spec) = sepnet.golden_io(model, model, stems, model.named_parameters())
    sepnet.save_safetensors(os.path.join(GOLDEN, "model-tiny-io.safetensors"), io,
                            {"batch": B, "samples": N, "loss": "loss, si-sdr, l1, spectral"})
    print(f"model-tiny: {n_params} parameters, loss {loss:.6f} "
          f"(SI-SDR {sd:.3f} dB, L1 {l1:.6f}, spectral {spec:.6f})")


if __name__ == "__main__":
    main()
