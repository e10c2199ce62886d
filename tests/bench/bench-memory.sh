#!/usr/bin/env bash
# bench-memory.sh: peak memory of separating long files (issue 16).
#
# MINUTES-long stereo 44.1 kHz noise (sox) separated by the bundled demo
# model, every stage's peak RSS (/usr/bin/time %M) and x realtime:
#   waveform  sepnet-fwd -m demo -o 'out/%s.flac' song.wav   (streamed)
#   pipeline  stft -m demo --chunk 30 song.wav | sepnet-fwd -m demo |
#             istft -o 'out/%s.flac'                          (chunk records)
# Memory that does not grow from the first length to the second is bounded
# by the model, a segment and a block or chunk, not the track.
#   MINUTES="1 2" tests/bench/bench-memory.sh
set -euo pipefail
BINDIR=${BINDIR:-bin}
minutes=${MINUTES:-10 20}
for p in stft istft sepnet-fwd; do
	[ -x "$BINDIR/$p" ] || { echo "bench-memory: $BINDIR/$p not built (make)" >&2; exit 1; }
done
command -v sox > /dev/null || { echo "bench-memory: sox not found" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-memory: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
mb() { awk '{ printf "%6.0f MB", $1 / 1024 }' "$1"; }

printf 'demo model, stereo 44.1 kHz noise, %s threads\n' "${OMP_NUM_THREADS:-$(nproc)}"
for m in $minutes; do
	song=$tmp/song$m.wav
	sox -R -n -r 44100 -c 2 -b 16 "$song" synth $((m * 60)) pinknoise vol 0.5
	secs=$((m * 60))
	t0=$(now)
	/usr/bin/time -o "$tmp/fwd" -f %M "$BINDIR/sepnet-fwd" -q -m demo -o "$tmp/w/%s.flac" "$song"
	t1=$(now)
	printf '%3d min  waveform  sepnet-fwd %s  %5.1f x realtime\n' "$m" "$(mb "$tmp/fwd")" \
		"$(awk -v a="$secs" -v b="$t0" -v c="$t1" 'BEGIN { print a / (c - b) }')"
	t0=$(now)
	/usr/bin/time -o "$tmp/s" -f %M "$BINDIR/stft" -q -m demo --chunk 30 "$song" |
		/usr/bin/time -o "$tmp/f" -f %M "$BINDIR/sepnet-fwd" -q -m demo |
		/usr/bin/time -o "$tmp/i" -f %M "$BINDIR/istft" -q -o "$tmp/p/%s.flac"
	t1=$(now)
	printf '%3d min  pipeline  stft %s  sepnet-fwd %s  istft %s  %5.1f x realtime\n' "$m" \
		"$(mb "$tmp/s")" "$(mb "$tmp/f")" "$(mb "$tmp/i")" \
		"$(awk -v a="$secs" -v b="$t0" -v c="$t1" 'BEGIN { print a / (c - b) }')"
	rm -rf "$tmp/w" "$tmp/p" "$song"
done
