#!/usr/bin/env bash
# bench-memory.sh: peak memory, throughput and latency of streaming (issue 16).
#
# MINUTES-long stereo 44.1 kHz noise (sox) separated by each of MODELS (the
# bundled demo, a fresh base.ini), every stage's peak RSS (/usr/bin/time %M)
# and x realtime:
#   waveform  sepnet-fwd -m MODEL -o 'out/%s.flac' song.wav   (streamed)
#   pipeline  stft -m MODEL song.wav | sepnet-fwd -m MODEL |
#             istft -o 'out/%s.flac'                          (stft's chunks)
# Memory that does not grow from the first length to the second is bounded
# by the model, a segment and a block or chunk, not the track.  Then, on a
# 2-minute file, the streamed paths against the whole-track ones (best of
# 2, run alternately): sepnet-fwd FILE -o (streamed) against sepnet-fwd
# FILE > whole.snt (a whole record), and the pipeline on stft's chunks
# against stft --chunk 0.  Last the live mode's latency
# (tests/tools/live-latency: input paced in real time) against --info's
# worst case, --segment 1 and 0.3.
#   MINUTES="1 2" MODELS=demo tests/bench/bench-memory.sh   (MINUTES="": no files)
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
minutes=${MINUTES-10 20} models=${MODELS-demo base}
for p in stft istft sepnet-fwd; do
	[ -x "$BINDIR/$p" ] || { echo "bench-memory: $BINDIR/$p not built (make)" >&2; exit 1; }
done
command -v sox > /dev/null || { echo "bench-memory: sox not found" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-memory: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
mb() { awk '{ printf "%6.0f MB", $1 / 1024 }' "$1"; }
xrt() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%5.1f", a / (c - b) }'; }

printf 'stereo 44.1 kHz noise, %s threads\n' "${OMP_NUM_THREADS:-$(nproc)}"
"$BINDIR/sepnet-fwd" --init -c configs/base.ini -o "$tmp/base.safetensors"
model_path() { [ "$1" = demo ] && echo demo || echo "$tmp/$1.safetensors"; }
for model in $models; do
	mp=$(model_path "$model")
	for m in $minutes; do
		[ "$m" -ge 1 ] || { echo "bench-memory: MINUTES are whole minutes from 1, not $m" >&2; exit 2; }
		song=$tmp/song.wav secs=$((m * 60))
		sox -R -n -r 44100 -c 2 -b 16 "$song" synth "$secs" pinknoise vol 0.5
		t0=$(now)
		/usr/bin/time -o "$tmp/fwd" -f %M "$BINDIR/sepnet-fwd" -q -m "$mp" -o "$tmp/w/%s.flac" "$song"
		t1=$(now)
		printf '%-5s %3d min  waveform  sepnet-fwd %s  %s x realtime\n' "$model" "$m" \
			"$(mb "$tmp/fwd")" "$(xrt "$secs" "$t0" "$t1")"
		t0=$(now)
		/usr/bin/time -o "$tmp/s" -f %M "$BINDIR/stft" -q -m "$mp" "$song" |
			/usr/bin/time -o "$tmp/f" -f %M "$BINDIR/sepnet-fwd" -q -m "$mp" |
			/usr/bin/time -o "$tmp/i" -f %M "$BINDIR/istft" -q -o "$tmp/p/%s.flac"
		t1=$(now)
		printf '%-5s %3d min  pipeline  stft %s  sepnet-fwd %s  istft %s  %s x realtime\n' \
			"$model" "$m" "$(mb "$tmp/s")" "$(mb "$tmp/f")" "$(mb "$tmp/i")" \
			"$(xrt "$secs" "$t0" "$t1")"
		rm -rf "$tmp/w" "$tmp/p" "$song"
	done
done

# throughput: streamed against whole, 2 minutes, best of 2, alternately
if [ -n "$minutes" ]; then
	song=$tmp/song.wav
	sox -R -n -r 44100 -c 2 -b 16 "$song" synth 120 pinknoise vol 0.5
	best() { awk -v x="$1" -v y="${2:-1e99}" 'BEGIN { print (x < y ? x : y) }'; }
	for model in $models; do
		mp=$(model_path "$model")
		ws= wh= ps= ph=
		for _ in 1 2; do
			t0=$(now); "$BINDIR/sepnet-fwd" -q -m "$mp" -o "$tmp/w/%s.wav" "$song"
			t1=$(now); "$BINDIR/sepnet-fwd" -q -m "$mp" "$song" > "$tmp/whole.snt"
			t2=$(now); "$BINDIR/stft" -q -m "$mp" "$song" | "$BINDIR/sepnet-fwd" -q -m "$mp" |
				"$BINDIR/istft" -q > /dev/null
			t3=$(now); "$BINDIR/stft" -q -m "$mp" --chunk 0 "$song" |
				"$BINDIR/sepnet-fwd" -q -m "$mp" | "$BINDIR/istft" -q > /dev/null
			t4=$(now)
			ws=$(best "$(echo "$t1 - $t0" | bc)" "$ws") wh=$(best "$(echo "$t2 - $t1" | bc)" "$wh")
			ps=$(best "$(echo "$t3 - $t2" | bc)" "$ps") ph=$(best "$(echo "$t4 - $t3" | bc)" "$ph")
			rm -rf "$tmp/w" "$tmp/whole.snt"
		done
		awk -v m="$model" -v a="$ws" -v b="$wh" -v c="$ps" -v d="$ph" 'BEGIN {
			printf "%-5s 2 min    waveform streamed/whole %.3f (%.1f s, %.1f s)   pipeline chunked/whole %.3f (%.1f s, %.1f s)  (time ratios)\n",
				m, a / b, a, b, c / d, c, d }'
	done
	rm -f "$song"
fi

# the live mode: input paced in real time, the lateness of every output
# sample (tests/tools/live-latency), against --info's worst case
for seg in 1 0.3; do
	predicted=$("$BINDIR/sepnet-fwd" --info -m demo --segment $seg | sed -n 's/^latency \([0-9.]*\) s.*/\1/p')
	measured=$("$OBJDIR/tests/tools/live-latency" 44100 10 "$BINDIR/sepnet-fwd" -m demo -q \
		-t f32 -r 44100 -c 1 --segment $seg -s vocals -o -)
	printf 'demo  live --segment %-4s --info %s s (before compute), measured %s\n' "$seg" \
		"$predicted" "${measured#latency }"
done
