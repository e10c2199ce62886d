#!/usr/bin/python3
"""golden-bsroformer.py: golden data of the band-split model for tests/unit/test_model.c.

The independent reference is the bs-roformer package's BSRoformer class
(lucidrains/BS-RoFormer 0.3.10, the last release before hyper-connections
and value residuals), run with Debian's python3-torch from a venv:

  python3 -m venv --system-site-packages /tmp/venv
  /tmp/venv/bin/pip install --no-deps BS-RoFormer==0.3.10 einops beartype \\
      rotary-embedding-torch==0.3.0 packaging
  /tmp/venv/bin/python tests/reference/golden-bsroformer.py

(`make golden-bsroformer` does this.)  Writes into tests/golden/:

  model-bs-tiny.safetensors     a configs/bs-tiny.ini checkpoint: the
                                reference's own init (PyTorch's defaults) with
                                the norms' gammas moved off 1, under the
                                reference's parameter names (its rotary
                                embeddings' constant `freqs` left out)
  model-bs-tiny-io.safetensors  for a batch of 2 random 4-stem examples:
                                stems, x = STFT(mixture) (B,C,F,T,2), yspec
                                (B,S,C,F,T,2), ywave, loss and its terms
                                (f64), and grad.NAME for every parameter

The reference's modules (band_split, layers, final_norm, mask_estimators)
run on sepnet's spectrogram, and the loss is sepnet's (tests/reference/
sepnet.py): BSRoformer.forward's own STFT front end and multi-resolution
loss are not sepnet's (docs/DESIGN.md §4), the model between them is.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sepnet  # noqa: E402
from bsroformer import model_from_config, parameters, separate  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
B, N = 2, 2000  # 2 examples of 2000 samples: 16 frames at hop 128


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(20261206)
    with open(os.path.join(ROOT, "configs", "bs-tiny.ini")) as f:
        config_text = f.read()
    model, widths = model_from_config(config_text)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".gamma"):
                p.copy_(torch.from_numpy(1 + 0.1 * rng.standard_normal(p.shape)).float())
    params = {k: p.detach().numpy().copy() for k, p in parameters(model)}
    n_params = sum(v.size for v in params.values())
    sepnet.save_safetensors(os.path.join(GOLDEN, "model-bs-tiny.safetensors"), params,
                            {"format": "sepnet", "config": config_text, "n_params": n_params})

    # sepnet's STFT, iSTFT and loss, from its PyTorch twin
    cfg = sepnet.Config(config_text)
    twin = sepnet.SepNet(cfg)
    stems = sepnet.golden_stems(rng, cfg, B, N)
    io, (loss, sd, l1, spec) = sepnet.golden_io(twin, lambda X: separate(model, X), stems,
                                                parameters(model))
    sepnet.save_safetensors(os.path.join(GOLDEN, "model-bs-tiny-io.safetensors"), io,
                            {"batch": B, "samples": N, "loss": "loss, si-sdr, l1, spectral",
                             "reference": "bs-roformer 0.3.10 BSRoformer"})
    print(f"model-bs-tiny: {len(widths)} bands, {n_params} parameters, loss {loss:.6f} "
          f"(SI-SDR {sd:.3f} dB, L1 {l1:.6f}, spectral {spec:.6f})")


if __name__ == "__main__":
    main()
