#!/usr/bin/python3
"""sepnet.py: an independent PyTorch twin of the sepnet model (docs/DESIGN.md §4, §8).

Written from the design text, not from the C code, with PyTorch's own ops
(torch.stft/istft, complex multiplication for RoPE, a plain softmax
attention, autograd for every gradient), so that agreement with the C
implementation means both follow the design.  It loads and saves sepnet
checkpoints (safetensors, read and written here with struct + json + numpy:
Debian has no safetensors package) and its module names are the checkpoint's
tensor names, so `load_state_dict` takes them as they are.

Used by golden-model.py (make golden) and tests/bench/torch_model.py.
"""
import configparser
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- safetensors, by hand ----

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def load_safetensors(path):
    """(tensors as numpy arrays by name, metadata dict)"""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    buf = data[8 + n:]
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        a = np.frombuffer(buf[b:e], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = a.copy()
    return out, meta


def save_safetensors(path, tensors, meta):
    """tensors: name -> numpy array (f32 or f64), written in the given order."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}[a.dtype]
        raw = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


# ---- config ----

class Config:
    """The keys of an INI config that the model and loss need."""

    def __init__(self, text):
        p = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
        p.read_string(text)
        m, t, l = p["model"], p["train"], p["loss"]
        self.n_fft = m.getint("n_fft")
        self.hop = m.getint("hop_length")
        self.n_layers = m.getint("n_layers")
        self.d = m.getint("emb_dim")
        self.h = m.getint("n_heads")
        self.A = m.getint("attention_dim")
        self.ffn = [int(x) for x in m.get("ffn_hidden_dim").split(",") if x.strip()]
        self.dropout = m.getfloat("dropout", fallback=0.0)
        self.sources = [s.strip() for s in m.get("sources").split(",")]
        self.S = len(self.sources)
        self.C = 2
        self.F = self.n_fft // 2 + 1
        self.segment_length = t.getint("segment_length")
        self.loss_type = l.get("loss_type", fallback="combined")
        self.w_sisdr = l.getfloat("si_sdr_weight")
        self.w_l1 = l.getfloat("l1_weight")
        self.w_spec = l.getfloat("spectral_weight")


# ---- the model ----

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.h, self.hs = cfg.h, cfg.A // cfg.h
        self.wq = nn.Linear(cfg.d, cfg.A, bias=False)
        self.wk = nn.Linear(cfg.d, cfg.A, bias=False)
        self.wv = nn.Linear(cfg.d, cfg.A, bias=False)
        self.wo = nn.Linear(cfg.A, cfg.d)

    def rope(self, x):
        # x (B, T, h, hs): pairs (2i, 2i+1) as complex numbers times e^{i t θ_i}
        B, T, h, hs = x.shape
        theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
        angle = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
        rot = torch.polar(torch.ones_like(angle), angle).to(torch.complex64)  # (T, hs/2)
        xc = torch.view_as_complex(x.reshape(B, T, h, hs // 2, 2).contiguous())
        return torch.view_as_real(xc * rot[None, :, None, :]).reshape(B, T, h, hs)

    def forward(self, a):
        B, T, _ = a.shape
        q = self.rope(self.wq(a).view(B, T, self.h, self.hs)).transpose(1, 2)
        k = self.rope(self.wk(a).view(B, T, self.h, self.hs)).transpose(1, 2)
        v = self.wv(a).view(B, T, self.h, self.hs).transpose(1, 2)
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hs), dim=-1)
        o = (p @ v).transpose(1, 2).reshape(B, T, self.h * self.hs)
        return self.wo(o)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d)
        self.attn = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.d)
        widths = [cfg.d] + cfg.ffn + [cfg.d]
        self.ffn = nn.ModuleList(nn.Linear(widths[j], widths[j + 1]) for j in range(len(widths) - 1))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, z):
        z = z + self.drop(self.attn(self.attn_norm(z)))
        a = self.ffn_norm(z)
        for j, lin in enumerate(self.ffn):
            a = lin(a)
            if j + 1 < len(self.ffn):
                a = F.gelu(a)  # exact (erf) GELU
        return z + self.drop(a)


class SepNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D_in, D_out = 2 * cfg.C * cfg.F, cfg.S * 2 * cfg.C * cfg.F
        self.add_module("in", nn.Linear(D_in, cfg.d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.out_norm = RMSNorm(cfg.d)
        self.out = nn.Linear(cfg.d, D_out)

    def forward(self, X):
        """X (B, C, F, T) complex64 -> masked spectrograms (B, S, C, F, T) complex64."""
        cfg = self.cfg
        B, C, Fb, T = X.shape
        sigma = torch.sqrt((X.real ** 2 + X.imag ** 2).mean(dim=(1, 2, 3))) + 1e-5
        u = torch.stack([X.real, X.imag], dim=1).reshape(B, 2 * C * Fb, T).transpose(1, 2)
        z = getattr(self, "in")(u / sigma[:, None, None])
        for blk in self.blocks:
            z = blk(z)
        m = self.out(self.out_norm(z)).view(B, T, cfg.S, 2, C, Fb)
        M = torch.complex(m[:, :, :, 0], m[:, :, :, 1]).permute(0, 2, 3, 4, 1)
        return M * X[:, None]

    def waveforms(self, Y, n):
        B, S, C, Fb, T = Y.shape
        w = torch.hann_window(self.cfg.n_fft)
        y = torch.istft(Y.reshape(B * S * C, Fb, T), self.cfg.n_fft, self.cfg.hop, window=w,
                        center=True, length=n)
        return y.reshape(B, S, C, n)

    def stft(self, x):
        """x (..., n) -> (..., F, T) complex, as the `stft` tool."""
        shape = x.shape
        X = torch.stft(x.reshape(-1, shape[-1]), self.cfg.n_fft, self.cfg.hop,
                       window=torch.hann_window(self.cfg.n_fft), center=True,
                       pad_mode="reflect", return_complex=True)
        return X.reshape(*shape[:-1], *X.shape[-2:])

    def load(self, tensors):
        self.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()
                              if not k.startswith("opt.")})


def sisdr(est, ref, eps=1e-8):
    """SI-SDR in dB over the last axis."""
    alpha = (est * ref).sum(-1, keepdim=True) / ((ref * ref).sum(-1, keepdim=True) + eps)
    s = alpha * ref
    return 10 * torch.log10(((s * s).sum(-1) + eps) / (((s - est) ** 2).sum(-1) + eps))


def loss_terms(model, Y, y_hat, stems):
    """(loss, mean SI-SDR, mean L1, mean spectral L1) of docs/DESIGN.md §4."""
    cfg = model.cfg
    B, S, C, n = stems.shape
    sd = sisdr(y_hat.reshape(B, S, C * n), stems.reshape(B, S, C * n)).mean()
    l1 = (y_hat - stems).abs().mean()
    T = model.stft(stems)
    mag = lambda z: torch.sqrt(z.real ** 2 + z.imag ** 2 + 1e-12)
    spec = (mag(Y) - mag(T)).abs().mean()
    if cfg.loss_type == "l1":
        loss = l1
    elif cfg.loss_type == "sisdr":
        loss = -sd
    else:
        loss = -cfg.w_sisdr * sd + cfg.w_l1 * l1 + cfg.w_spec * spec
    return loss, sd, l1, spec


def golden_stems(rng, cfg, B, N):
    """The golden batch's stems (B, S, C, N): a tone per source plus noise,
    different per example and channel (golden-*.py)."""
    t = np.arange(N) / 44100
    stems = 0.05 * rng.standard_normal((B, cfg.S, cfg.C, N))
    for s in range(cfg.S):
        stems[:, s] += 0.3 * np.sin(2 * np.pi * (110 * (s + 1)) * t + rng.uniform(0, 6, (B, cfg.C, 1)))
    return torch.from_numpy(stems.astype(np.float32))


def golden_io(twin, forward, stems, named_parameters):
    """One training pass on stems, forward (X -> Y) between twin's STFT and
    iSTFT with twin's loss: the golden tensors (stems, x, yspec, ywave, loss
    and its terms in f64, grad.NAME of every parameter) and the terms."""
    N = stems.shape[-1]
    X = twin.stft(stems.sum(1))
    Y = forward(X)
    y = twin.waveforms(Y, N)
    terms = loss_terms(twin, Y, y, stems)
    terms[0].backward()
    io = {
        "stems": stems.numpy(),
        "x": torch.view_as_real(X).detach().numpy(),
        "yspec": torch.view_as_real(Y).detach().numpy(),
        "ywave": y.detach().numpy(),
        "loss": np.array([v.item() for v in terms], dtype=np.float64),
    }
    for name, p in named_parameters:
        io["grad." + name] = p.grad.numpy()
    return io, [v.item() for v in terms]


def open_model(path):
    tensors, meta = load_safetensors(path)
    model = SepNet(Config(meta["config"]))
    model.load(tensors)
    return model


if __name__ == "__main__":
    sys.exit(__doc__)
