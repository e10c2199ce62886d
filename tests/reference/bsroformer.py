"""bsroformer.py: the bs-roformer package's BSRoformer as sepnet's band-split
model (docs/DESIGN.md §4): built from a sepnet config, run between sepnet's
STFT and iSTFT.  Used by golden-bsroformer.py and tests/bench/.

Needs the venv `make golden` makes (build/venv-bsroformer): Debian's
python3-torch with BS-RoFormer 0.3.10 and its pure-Python dependencies.
"""
import configparser
import sys
import types

import numpy as np
import torch

# bs_roformer/__init__ imports the mel-band model, which imports librosa's
# mel filters; the band-split model does not use them
librosa = types.ModuleType("librosa")
librosa.filters = types.ModuleType("librosa.filters")
sys.modules.setdefault("librosa", librosa)
sys.modules.setdefault("librosa.filters", librosa.filters)

from bs_roformer.bs_roformer import BSRoformer, DEFAULT_FREQS_PER_BANDS  # noqa: E402
from einops import rearrange, pack, unpack  # noqa: E402


def paper_bands(F):
    """DEFAULT_FREQS_PER_BANDS' edges scaled to F bins, vanished bands dropped
    (lib/io/config.c: config_bands)."""
    starts, edge = [0], 0
    for w in DEFAULT_FREQS_PER_BANDS:
        edge += w
        e = int(np.floor(edge * F / 1025 + 0.5))
        if e > starts[-1]:
            starts.append(e)
    return tuple(b - a for a, b in zip(starts[:-1], starts[1:]))


def model_from_config(text):
    """BSRoformer of a sepnet config's [model] section, and its band widths."""
    p = configparser.ConfigParser(inline_comment_prefixes=(";", "#"))
    p.read_string(text)
    m = p["model"]
    n_fft, hop = m.getint("n_fft"), m.getint("hop_length")
    F = n_fft // 2 + 1
    bands = m.get("bands", "paper")
    widths = paper_bands(F) if bands == "paper" else tuple(int(x) for x in bands.split(","))
    heads, A, d = m.getint("n_heads"), m.getint("attention_dim"), m.getint("emb_dim")
    ffn = int(m.get("ffn_hidden_dim"))
    assert ffn % d == 0, "the package's FeedForward is ff_mult x dim"
    return BSRoformer(
        dim=d, depth=m.getint("n_layers"), stereo=True,
        num_stems=len(m.get("sources").split(",")),
        time_transformer_depth=m.getint("time_depth", 1),
        freq_transformer_depth=m.getint("freq_depth", 1),
        freqs_per_bands=widths, dim_head=A // heads, heads=heads, flash_attn=False,
        dim_freqs_in=F, stft_n_fft=n_fft, stft_hop_length=hop, stft_win_length=n_fft,
        mask_estimator_depth=m.getint("mask_depth", 2)), widths


def separate(model, X):
    """BSRoformer.forward between its STFT and iSTFT, on X (B, C, F, T)
    complex: the masked spectrograms (B, S, C, F, T) complex."""
    stft_repr = torch.view_as_real(X)                          # b s f t c
    stft_repr = rearrange(stft_repr, 'b s f t c -> b (f s) t c')
    x = rearrange(stft_repr, 'b f t c -> b t (f c)')
    x = model.band_split(x)
    for time_transformer, freq_transformer in model.layers:
        x = rearrange(x, 'b t f d -> b f t d')
        x, ps = pack([x], '* t d')
        x = time_transformer(x)
        x, = unpack(x, ps, '* t d')
        x = rearrange(x, 'b f t d -> b t f d')
        x, ps = pack([x], '* f d')
        x = freq_transformer(x)
        x, = unpack(x, ps, '* f d')
    x = model.final_norm(x)
    mask = torch.stack([fn(x) for fn in model.mask_estimators], dim=1)
    mask = rearrange(mask, 'b n t (f c) -> b n f t c', c=2)
    stft_repr = rearrange(stft_repr, 'b f t c -> b 1 f t c')
    Y = torch.view_as_complex(stft_repr.contiguous()) * torch.view_as_complex(mask.contiguous())
    return rearrange(Y, 'b n (f s) t -> b n s f t', s=X.shape[1])


def parameters(model):
    """The reference's parameters sepnet stores: all but the rotary
    embeddings' constant frequencies."""
    return [(k, p) for k, p in model.named_parameters() if not k.endswith("rotary_embed.freqs")]
