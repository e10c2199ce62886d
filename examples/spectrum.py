#!/usr/bin/env python3
"""spectrum.py: the loudest frequency of each channel of stft output.

    stft song.wav | python3 examples/spectrum.py
    song ch0: 439.9 Hz  -6.2 dB
    song ch1: 660.1 Hz  -6.6 dB

(song.wav: sines of 440 Hz left and 660 Hz right at -6 dB, as made by
`sox -n -r 44100 -c 2 song.wav synth 3 sine 440 sine 660 gain -6`.)

Reads spectrogram records c64 [..., C, F, T] (from a file or standard
input; a chunked track's chunks joined) with examples/snt.py, averages the power of each bin over the
frames, and refines the peak bin by a parabola through the log power of
it and its neighbours.  The level is that of the peak bin against a
full-scale sine centred on a bin (up to 1.4 dB low between bins)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snt  # noqa: E402


def main(name):
    f = sys.stdin.buffer if name == '-' else open(name, 'rb')
    for i, (h, X) in enumerate(snt.tracks(f)):     # chunks joined
        if h['dtype'] != 'c64' or 'n_fft' not in h:
            sys.exit(f'spectrum.py: record {i}: not a spectrogram from stft')
        n_fft, sr = int(h['n_fft']), int(h.get('sr', 0))
        power = np.mean(np.abs(X.astype(np.complex128)) ** 2, axis=-1)
        label = h.get('track', h.get('name', f'record {i}'))
        sources = h['sources'].split(',') if 'sources' in h else None
        for idx in np.ndindex(power.shape[:-1]):    # [..., C] rows
            p = np.log(power[idx] + 1e-30)
            k = int(np.argmax(p))
            d = 0.0
            if 0 < k < len(p) - 1:      # vertex of the parabola
                a, b, c = p[k - 1], p[k], p[k + 1]
                d = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
            # a sine of amplitude A gives |X| = A * sum(w) / 2 = A * n_fft / 4
            db = 10 * np.log10(power[idx][k] / (n_fft / 4) ** 2 + 1e-30)
            where = [label] + [sources[j] if a == 0 and sources else str(j)
                               for a, j in enumerate(idx[:-1])]
            where += [f'ch{idx[-1]}'] if idx else []
            freq = f'{(k + d) * sr / n_fft:.1f} Hz' if sr else f'bin {k + d:.2f}'
            print(f'{" ".join(where)}: {freq} {db:5.1f} dB')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '-')
