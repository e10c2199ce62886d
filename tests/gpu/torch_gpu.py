#!/usr/bin/env python3
"""torch_gpu.py: the PyTorch twin of `sepnet-fwd -d cuda` for check.sh.

    torch_gpu.py CHECKPOINT SECONDS REPEATS BATCH

Separates SECONDS of stereo noise with tests/reference/sepnet.py's model on
the GPU the way a PyTorch user would make it fast: bf16 autocast for the
network, F.scaled_dot_product_attention (flash kernels) instead of the
reference's explicit softmax, torch.stft/istft on the device, BATCH
segments of the training length per forward, overlapping by 25 % and
cross-faded as lib/chunk.h does.  The clock runs from a host waveform to
host stems, as sepnet-fwd's waveform mode.  Prints shell assignments:
torch= (best wall seconds) torch_version=.
"""
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import sepnet  # noqa: E402

dev = torch.device("cuda")
_rope = {}


def rope(x):
    """x (B, T, h, hs), pairs (2i, 2i+1) turned by t θ_i (docs/DESIGN.md §4)."""
    B, T, h, hs = x.shape
    key = (T, hs)
    if key not in _rope:
        theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
        angle = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
        _rope[key] = (angle.cos().float().to(dev)[None, :, None, :],
                      angle.sin().float().to(dev)[None, :, None, :])
    cos, sin = _rope[key]
    xf = x.float().reshape(B, T, h, hs // 2, 2)
    a, b = xf[..., 0], xf[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(B, T, h, hs).to(x.dtype)


def attention_forward(self, a):
    B, T, _ = a.shape
    q = rope(self.wq(a).view(B, T, self.h, self.hs)).transpose(1, 2)
    k = rope(self.wk(a).view(B, T, self.h, self.hs)).transpose(1, 2)
    v = self.wv(a).view(B, T, self.h, self.hs).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, k, v)
    return self.wo(o.transpose(1, 2).reshape(B, T, self.h * self.hs))


sepnet.Attention.forward = attention_forward


def model_forward(model, X):
    """X (B, C, F, T) complex64 -> (B, S, C, F, T), the network under bf16 autocast."""
    cfg = model.cfg
    B, C, Fb, T = X.shape
    sigma = torch.sqrt((X.real ** 2 + X.imag ** 2).mean(dim=(1, 2, 3))) + 1e-5
    u = torch.stack([X.real, X.imag], dim=1).reshape(B, 2 * C * Fb, T).transpose(1, 2)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        z = getattr(model, "in")(u / sigma[:, None, None])
        for blk in model.blocks:
            z = blk(z)
        m = model.out(model.out_norm(z))
    m = m.float().view(B, T, cfg.S, 2, C, Fb)
    M = torch.complex(m[:, :, :, 0], m[:, :, :, 1]).permute(0, 2, 3, 4, 1)
    return M * X[:, None]


def separate(model, x, batch):
    """x (C, n) host -> stems (S, C, n) host."""
    cfg = model.cfg
    n = x.shape[-1]
    window = torch.hann_window(cfg.n_fft, device=dev)
    X = torch.stft(x.to(dev), cfg.n_fft, cfg.hop, window=window, center=True, pad_mode="reflect",
                   return_complex=True)  # (C, F, T)
    T = X.shape[-1]
    L = 1 + cfg.segment_length // cfg.hop
    if T <= L:
        starts, L = [0], T
    else:
        step = L - int(round(0.25 * L))
        starts = list(range(0, T - L + 1, step))
        if starts[-1] + L < T:
            starts.append(T - L)
    out = torch.zeros((cfg.S,) + tuple(X.shape), dtype=X.dtype, device=dev)
    weight = torch.zeros(T, device=dev)
    ramp = torch.ones(L, device=dev)  # flat weights: the cost, not the exact fade
    for i in range(0, len(starts), batch):
        group = starts[i:i + batch]
        Y = model_forward(model, torch.stack([X[..., s:s + L] for s in group]))
        for j, s in enumerate(group):
            out[..., s:s + L] += Y[j] * ramp
            weight[s:s + L] += ramp
    out = out / weight
    S, C, Fb, _ = out.shape
    y = torch.istft(out.reshape(S * C, Fb, T), cfg.n_fft, cfg.hop, window=window, center=True,
                    length=n)
    return y.reshape(S, C, n).cpu()


def main():
    path, seconds, repeats, batch = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    model = sepnet.open_model(path).to(dev).eval()
    x = torch.rand(2, int(seconds * 44100), generator=torch.Generator().manual_seed(0)) - 0.5
    best = math.inf
    with torch.no_grad():
        separate(model, x[:, :44100 * 5], batch)  # warm-up: kernels, plans, allocator
        for _ in range(repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            separate(model, x, batch)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    print(f"torch={best:.4f}")
    print(f"torch_version={torch.__version__}")


if __name__ == "__main__":
    main()
