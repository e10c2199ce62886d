#!/usr/bin/env bash
# bench-wiener.sh: what sepnet-fwd --wiener N gains and costs.
#
# SONGS songs of SECONDS_SONG (make-dataset --seed 2026, which the bundled
# demo model never saw) separated by the demo model with --wiener 0, 1
# and 2 (Open-Unmix's EM, lib/ops/wiener.c), as audio files; per stem and
# N the mean SI-SDR against the true stems (sisdr) and its gain over
# N = 0, with the do-nothing baseline (the mixture as every stem); and the
# seconds each N takes (the filter's cost beside the model's).
#   SONGS=4 SECONDS_SONG=60 tests/bench/bench-wiener.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
songs=${SONGS:-4} secs=${SECONDS_SONG:-30} model=${MODEL:-demo}
gen=$OBJDIR/tests/tools/make-dataset
for p in "$BINDIR/sepnet-fwd" "$BINDIR/sisdr" "$gen"; do
	[ -x "$p" ] || { echo "bench-wiener: $p not built (make)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" --seed 2026 --train 0 --test "$songs" --seconds "$secs" "$tmp/data" >/dev/null
stems="drums bass other vocals"
sisdr_of() { "$BINDIR/sisdr" --csv "$1" "$2" | awk -F, 'NR == 2 { print $3 }'; }

echo "model $model, $songs songs of ${secs} s, $OMP_NUM_THREADS threads"
i=0
for song in "$tmp/data/test/"*/; do
	i=$((i + 1))
	for s in $stems; do
		echo "base $s $(sisdr_of "$song/$s.wav" "$song/mixture.wav")"
	done >> "$tmp/scores"
	for n in 0 1 2; do
		start=$(date +%s.%N)
		"$BINDIR/sepnet-fwd" -q -m "$model" --wiener $n "$song/mixture.wav" -o "$tmp/out$n-$i/%s.wav"
		echo "time $n $(echo "$(date +%s.%N) - $start" | bc)" >> "$tmp/scores"
		for s in $stems; do
			echo "w$n $s $(sisdr_of "$song/$s.wav" "$tmp/out$n-$i/$s.wav")"
		done >> "$tmp/scores"
	done
done
awk -v songs="$songs" -v secs="$secs" '
	$1 == "time" { t[$2] += $3; next }
	{ sum[$1 " " $2] += $3; tot[$1] += $3 }
	END {
		printf "%-8s %9s %9s %9s %9s %9s %9s\n", "SI-SDR", "baseline", "--wiener 0", "1", "2", "gain 1", "gain 2"
		split("drums bass other vocals", st, " ")
		for (k = 1; k <= 4; k++) {
			s = st[k]
			b = sum["base " s] / songs; a = sum["w0 " s] / songs
			c = sum["w1 " s] / songs; d = sum["w2 " s] / songs
			printf "%-8s %9.2f %9.2f %9.2f %9.2f %+9.2f %+9.2f\n", s, b, a, c, d, c - a, d - a
		}
		b = tot["base"] / songs / 4; a = tot["w0"] / songs / 4; c = tot["w1"] / songs / 4; d = tot["w2"] / songs / 4
		printf "%-8s %9.2f %9.2f %9.2f %9.2f %+9.2f %+9.2f\n", "mean", b, a, c, d, c - a, d - a
		for (n = 0; n <= 2; n++)
			printf "--wiener %d: %.2f s for %d s of audio (%.1fx realtime)\n", n, t[n], songs * secs, songs * secs / t[n]
	}' "$tmp/scores"
