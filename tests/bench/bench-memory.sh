#!/usr/bin/env bash
# bench-memory.sh: peak memory of separating long files (issue 16).
#
# MINUTES-long stereo 44.1 kHz noise (sox) separated by the bundled demo
# model, every stage's peak RSS (/usr/bin/time %M) and x realtime:
#   waveform  sepnet-fwd -m demo -o 'out/%s.flac' song.wav   (streamed)
#   pipeline  stft -m demo --chunk 30 song.wav | sepnet-fwd -m demo |
#             istft -o 'out/%s.flac'                          (chunk records)
# Memory that does not grow from the first length to the second is bounded
# by the model, a segment and a block or chunk, not the track.  Then the
# live mode's latency (tests/tools/live-latency), --segment 1 and 0.3.
#   MINUTES="1 2" tests/bench/bench-memory.sh
set -euo pipefail
BINDIR=${BINDIR:-bin}
minutes=${MINUTES-10 20}	# MINUTES="" : the live mode only
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
	[ "$m" -ge 1 ] || { echo "bench-memory: MINUTES are whole minutes from 1, not $m" >&2; exit 2; }
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

# the live mode: input paced in real time, the lateness of every output
# sample (tests/tools/live-latency), against --info's worst case
OBJDIR=${OBJDIR:-build}
for seg in 1 0.3; do
	predicted=$("$BINDIR/sepnet-fwd" --info -m demo --segment $seg | sed -n 's/^latency \([0-9.]*\) s.*/\1/p')
	measured=$("$OBJDIR/tests/tools/live-latency" 44100 10 "$BINDIR/sepnet-fwd" -m demo -q \
		-t f32 -r 44100 -c 1 --segment $seg -s vocals -o -)
	printf 'live --segment %-4s --info %s s (before compute), measured %s\n' "$seg" "$predicted" \
		"${measured#latency }"
done
