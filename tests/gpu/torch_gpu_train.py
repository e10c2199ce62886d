#!/usr/bin/env python3
"""torch_gpu_train.py: the PyTorch twin of `sepnet-train -d cuda` for check.sh.

    torch_gpu_train.py CONFIG [STEPS [WARMUP]] [--device cuda|cpu]
                       [--attention auto|sdpa|explicit]

Trains tests/reference/sepnet.py's model for CONFIG the way a PyTorch user
would make it fast: bf16 autocast for the network where use_amp = true
(STFT, iSTFT, mask and loss stay f32, as docs/DESIGN.md §7 keeps reductions in
f32), F.scaled_dot_product_attention instead of the reference's explicit
softmax, torch.optim.AdamW(fused=True), TF32 for f32 GEMMs where
tf32 = true.  A step is sepnet-train's: gradient_accum micro-batches of
batch_size examples, each the mixture (sum of the stems), its STFT, the
model, the iSTFT, the loss of docs/DESIGN.md §4 (sepnet.loss_terms) and backward;
then clip_grad_norm_(grad_clip) and AdamW with learning_rate and
weight_decay.  The stems, f32 [B, S, C, segment_length] noise, are made on
the device once, so no data loading is timed.  WARMUP steps (default 3),
then STEPS steps (default 10) timed between two torch.cuda.synchronize().

Where torch lacks SDPA or fused AdamW (Debian's 1.13, used for a dry run
with --device cpu configs/tiny.ini), the explicit softmax and plain AdamW
stand in, and the output says so.  use_amp applies on cuda only.

Prints shell assignments: examples_per_s= step_s= peak_mem_gib=
(torch.cuda.max_memory_allocated; on the CPU the process's peak RSS)
peak_reserved_gib= (the caching allocator's peak, what the device lent)
loss_first= loss_last= (the first step, warm-up included, and the last)
attention=sdpa|explicit adamw=fused|plain amp=bf16|off torch_version=.
Exit status 1 when a loss is not finite.
"""
import argparse
import math
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import sepnet  # noqa: E402

HAVE_SDPA = hasattr(F, "scaled_dot_product_attention")
_rope = {}


def rope(x):
    """x (B, T, h, hs), pairs (2i, 2i+1) turned by t θ_i (docs/DESIGN.md §4), in f32.

    Real arithmetic with cached tables instead of the twin's complex product,
    which has no bf16 form."""
    B, T, h, hs = x.shape
    key = (T, hs, x.device)
    if key not in _rope:
        theta = 10000.0 ** (-torch.arange(0, hs, 2, dtype=torch.float64) / hs)
        angle = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
        _rope[key] = (angle.cos().float().to(x.device)[None, :, None, :],
                      angle.sin().float().to(x.device)[None, :, None, :])
    cos, sin = _rope[key]
    xf = x.float().reshape(B, T, h, hs // 2, 2)
    a, b = xf[..., 0], xf[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(B, T, h, hs).to(x.dtype)


def attention_forward(self, a, sdpa):
    B, T, _ = a.shape
    q = rope(self.wq(a).view(B, T, self.h, self.hs)).transpose(1, 2)
    k = rope(self.wk(a).view(B, T, self.h, self.hs)).transpose(1, 2)
    v = self.wv(a).view(B, T, self.h, self.hs).transpose(1, 2)
    if sdpa:
        o = F.scaled_dot_product_attention(q, k, v)
    else:
        o = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.hs), dim=-1) @ v
    return self.wo(o.transpose(1, 2).reshape(B, T, self.h * self.hs))


class TrainNet(sepnet.SepNet):
    """The twin with its STFT window on the model's device and the network,
    from W_in to W_out, under bf16 autocast when amp is set."""

    def __init__(self, cfg, amp):
        super().__init__(cfg)
        self.amp = amp
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)

    def forward(self, X):
        """X (B, C, F, T) complex64 -> masked spectrograms (B, S, C, F, T) complex64."""
        cfg = self.cfg
        B, C, Fb, T = X.shape
        sigma = torch.sqrt((X.real ** 2 + X.imag ** 2).mean(dim=(1, 2, 3))) + 1e-5
        u = torch.stack([X.real, X.imag], dim=1).reshape(B, 2 * C * Fb, T).transpose(1, 2)
        with torch.autocast(device_type=X.device.type, dtype=torch.bfloat16, enabled=self.amp):
            z = getattr(self, "in")(u / sigma[:, None, None])
            for blk in self.blocks:
                z = blk(z)
            m = self.out(self.out_norm(z))
        m = m.float().view(B, T, cfg.S, 2, C, Fb)
        M = torch.complex(m[:, :, :, 0], m[:, :, :, 1]).permute(0, 2, 3, 4, 1)
        return M * X[:, None]

    def waveforms(self, Y, n):
        B, S, C, Fb, T = Y.shape
        y = torch.istft(Y.reshape(B * S * C, Fb, T), self.cfg.n_fft, self.cfg.hop,
                        window=self.window, center=True, length=n)
        return y.reshape(B, S, C, n)

    def stft(self, x):
        shape = x.shape
        X = torch.stft(x.reshape(-1, shape[-1]), self.cfg.n_fft, self.cfg.hop,
                       window=self.window, center=True, pad_mode="reflect", return_complex=True)
        return X.reshape(*shape[:-1], *X.shape[-2:])


def init_design(model):
    """docs/DESIGN.md §4.5: weights N(0, 0.02), biases 0, W_o and the last FFN layer
    scaled by 1/sqrt(2 n_layers), norms 1, W_out 0 and b_out 1/S on the real
    part, so training starts from the mixture split equally."""
    cfg = model.cfg
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                last = name.endswith("attn.wo.weight") or name.endswith(f"ffn.{len(cfg.ffn)}.weight")
                p.normal_(0, 0.02 / math.sqrt(2 * cfg.n_layers) if last else 0.02)
        model.out.weight.zero_()
        model.out.bias.view(cfg.S, 2, -1)[:, 0] = 1 / cfg.S


def make_adamw(params, lr, wd):
    """(optimizer, 'fused'|'plain'): fused where this torch has it for the device."""
    kw = dict(lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    try:
        return torch.optim.AdamW(params, fused=True, **kw), "fused"
    except (TypeError, RuntimeError):  # torch < 2.0, or no fused kernel for this device
        return torch.optim.AdamW(params, **kw), "plain"


def main():
    ap = argparse.ArgumentParser(description="PyTorch twin of sepnet-train for check.sh")
    ap.add_argument("config")
    ap.add_argument("steps", nargs="?", type=int, default=10)
    ap.add_argument("warmup", nargs="?", type=int, default=3)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--attention", default="auto", choices=["auto", "sdpa", "explicit"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0:
        ap.error("STEPS must be at least 1 and WARMUP at least 0")
    if args.attention == "sdpa" and not HAVE_SDPA:
        ap.error(f"torch {torch.__version__} has no scaled_dot_product_attention")
    sdpa = HAVE_SDPA if args.attention == "auto" else args.attention == "sdpa"
    sepnet.Attention.forward = lambda self, a: attention_forward(self, a, sdpa)

    with open(args.config) as f:
        text = f.read()
    cfg = sepnet.Config(text)
    ini = sepnet.configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    ini.read_string(text)
    t = ini["train"]
    B, accum, n = t.getint("batch_size"), t.getint("gradient_accum", fallback=1), cfg.segment_length
    clip = t.getfloat("grad_clip", fallback=5.0)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    amp = cuda and t.getboolean("use_amp", fallback=False)
    if cuda:
        tf32 = ini.getboolean("hardware", "tf32", fallback=False)
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32

    torch.manual_seed(args.seed)
    model = TrainNet(cfg, amp)
    init_design(model)
    model.to(dev).train()
    opt, adamw = make_adamw(model.parameters(), t.getfloat("learning_rate"),
                            t.getfloat("weight_decay", fallback=0.0))
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    stems = 0.1 * torch.randn(B, cfg.S, cfg.C, n, device=dev, generator=gen)  # f32 [B, S, C, N]

    def step():
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=dev)
        for _ in range(accum):
            Y = model(model.stft(stems.sum(1)))
            loss = sepnet.loss_terms(model, Y, model.waveforms(Y, n), stems)[0] / accum
            loss.backward()
            total += loss.detach()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return total  # on the device: reading it here would wait for the step

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    losses = [step() for _ in range(args.warmup)]
    sync()
    t0 = time.perf_counter()
    losses += [step() for _ in range(args.steps)]
    sync()
    elapsed = time.perf_counter() - t0

    if cuda:
        peak = torch.cuda.max_memory_allocated(dev) / 2 ** 30
        reserved = torch.cuda.max_memory_reserved(dev) / 2 ** 30
    else:  # ru_maxrss is in KiB on Linux
        peak = reserved = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    first, last = losses[0].item(), losses[-1].item()
    print(f"examples_per_s={args.steps * B * accum / elapsed:.3f}")
    print(f"step_s={elapsed / args.steps:.4f}")
    print(f"peak_mem_gib={peak:.3f}")
    print(f"peak_reserved_gib={reserved:.3f}")
    print(f"loss_first={first:.6g}")
    print(f"loss_last={last:.6g}")
    print(f"attention={'sdpa' if sdpa else 'explicit'}")
    print(f"adamw={adamw}")
    print(f"amp={'bf16' if amp else 'off'}")
    print(f"torch_version={torch.__version__}")
    if not all(math.isfinite(x.item()) for x in losses):
        sys.exit("torch_gpu_train.py: a loss is not finite")


if __name__ == "__main__":
    main()
