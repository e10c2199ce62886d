#!/usr/bin/env bash
# examples/demo.sh: what `make demo` runs.
#
# Until a trained model is bundled (models/demo.safetensors), the demo is
# the round trip every separation goes through: a generated example song
# through `stft | istft`, written to demo/, with its reconstruction error.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BINDIR:-bin}
TESTBIN=${OBJDIR:-build}/tests/tools
mkdir -p demo

# a 20 s example: a chord, a bass line and noise bursts on a beat grid
sox -r 44100 -c 2 -n -b 16 demo/song.wav synth 20 \
	pluck A2 pluck E3 fade 0 20 0.5 gain -8 2>/dev/null
echo "example song: demo/song.wav ($(soxi -d demo/song.wav), $(soxi -r demo/song.wav) Hz, $(soxi -c demo/song.wav) channels)"

start=$(date +%s%N)
"$BIN"/stft < demo/song.wav | "$BIN"/istft -o demo/roundtrip.wav
ms=$((($(date +%s%N) - start) / 1000000))
echo "stft | istft -> demo/roundtrip.wav in $ms ms"
echo "reconstruction error (max |x - y|, rms, SNR in dB):"
"$TESTBIN"/snt-cmp -t 1e-4 demo/song.wav demo/roundtrip.wav
