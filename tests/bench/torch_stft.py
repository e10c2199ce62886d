#!/usr/bin/python3
"""torch_stft.py: the stft | istft round trip in PyTorch, for bench-stft.sh.

    torch_stft.py WAV N_FFT HOP THREADS REPEATS

Reads a WAV with scipy.io.wavfile, then times torch.stft and torch.istft
(center=True, reflect padding, periodic Hann: the semantics of sepnet's
stft/istft) on all channels at once, REPEATS times with THREADS threads.
Prints one line of key=value pairs: seconds of audio, the WAV read time,
the best stft, istft and round-trip times, and the max reconstruction
error (a check that both sides computed the same thing)."""
import sys
import time

import numpy as np
import scipy.io.wavfile
import torch


def main():
    path, n_fft, hop, threads, repeats = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    sr, pcm = scipy.io.wavfile.read(path)
    if pcm.dtype == np.int16:
        pcm = pcm.astype(np.float32) / 32768
    x = torch.from_numpy(np.ascontiguousarray(pcm.T, dtype=np.float32))  # [C, N]
    read = time.perf_counter() - t0
    window = torch.hann_window(n_fft, periodic=True)
    n = x.shape[-1]
    best_fwd = best_inv = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        X = torch.stft(x, n_fft, hop_length=hop, window=window, center=True,
                       pad_mode="reflect", return_complex=True)
        t1 = time.perf_counter()
        y = torch.istft(X, n_fft, hop_length=hop, window=window, center=True,
                        length=n)
        t2 = time.perf_counter()
        best_fwd, best_inv = min(best_fwd, t1 - t0), min(best_inv, t2 - t1)
        del X
    err = (y - x).abs().max().item()
    print("seconds=%.3f read=%.4f stft=%.4f istft=%.4f roundtrip=%.4f err=%.2g"
          % (n / sr, read, best_fwd, best_inv, best_fwd + best_inv, err))


if __name__ == "__main__":
    main()
