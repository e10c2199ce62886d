#!/bin/sh
# roundtrip.sh: a tone through stft | istft, compared with the original.
#
#   examples/roundtrip.sh [N_FFT HOP]       (default 4096 1024)
#
# Generates five seconds of a stereo two-tone signal with sox, shows the
# spectrogram record, writes the round trip as a WAV file and compares it
# with the input using the test helper snt-cmp (largest and RMS difference,
# SNR), failing when a sample differs by more than 1e-5.  The tools come
# from $BINDIR (default bin), snt-cmp from $OBJDIR/tests/tools (default
# build), both relative to the source tree: run `make` first.
set -eu
cd "$(dirname "$0")/.."
PATH=${BINDIR:-bin}:${OBJDIR:-build}/tests/tools:$PATH
n_fft=${1:-4096} hop=${2:-1024}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sox -n -r 44100 -c 2 -b 32 -e floating-point "$tmp/tone.wav" \
	synth 5 sine 440 sine 660 gain -6
stft -n "$n_fft" -H "$hop" "$tmp/tone.wav" | snt-info
stft -n "$n_fft" -H "$hop" "$tmp/tone.wav" | istft -o "$tmp/back.wav"
snt-cmp -t 1e-5 "$tmp/tone.wav" "$tmp/back.wav"
