#!/usr/bin/env bash
# ab.sh: two builds side by side, runs interleaved (A B A B ...) so that a
# machine's drift hits both alike: base.ini separation (stft | sepnet-fwd |
# istft, x realtime) and small.ini training (sepnet-train's examples/s
# from metrics.jsonl), best of REPEATS each.  For a change that must not
# slow anything down: build the previous commit in a temporary folder and
# compare.
#
#   git worktree add /tmp/prev HEAD~1 && make -C /tmp/prev -j2 NO_CUDA=1
#   tests/bench/ab.sh /tmp/prev/bin bin
#
# A and B are bin/ folders; make-dataset comes from OBJDIR (this build).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: tests/bench/ab.sh BINDIR_A BINDIR_B" >&2; exit 2; }
A=$1 B=$2 OBJDIR=${OBJDIR:-build}
repeats=${REPEATS:-3} secs=${SECONDS_AUDIO:-30} steps=${STEPS:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sox -R -n -r 44100 -c 2 -b 16 "$tmp/song.wav" synth "$secs" pinknoise vol 0.5
"$OBJDIR/tests/tools/make-dataset" --seed 1 --train 4 --test 0 --seconds 12 "$tmp/ds" > /dev/null
# by A: a newer build reads an older checkpoint, not always the other way
"$A/sepnet-fwd" --init -c configs/base.ini -o "$tmp/base.safetensors"
per_step=$(awk -F' *= *' '$1 == "batch_size" { b = $2 } $1 == "gradient_accum" { a = $2 }
	END { print b * a }' configs/small.ini)

separate() {	# BINDIR: seconds of one separation
	local t0 t1
	t0=$(date +%s.%N)
	"$1/stft" -c configs/base.ini < "$tmp/song.wav" | "$1/sepnet-fwd" -m "$tmp/base.safetensors" |
		"$1/istft" > /dev/null
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

train() {	# BINDIR: examples/s of a short small.ini run
	rm -rf "$tmp/run"
	"$1/musdb-cat" train -r "$tmp/ds" -c configs/small.ini -j 1 -n $((steps * per_step)) |
		"$1/sepnet-train" -q -c configs/small.ini -o "$tmp/run" --steps "$steps"
	grep '"type":"step"' "$tmp/run/metrics.jsonl" | tail -n 1 |
		sed 's/.*"examples_per_s":\([0-9.e+-]*\).*/\1/'
}

best_sa= best_sb= best_ta= best_tb=
for _ in $(seq "$repeats"); do
	sa=$(separate "$A") sb=$(separate "$B") ta=$(train "$A") tb=$(train "$B")
	best_sa=$(awk -v x="$sa" -v y="${best_sa:-1e99}" 'BEGIN { print (x < y ? x : y) }')
	best_sb=$(awk -v x="$sb" -v y="${best_sb:-1e99}" 'BEGIN { print (x < y ? x : y) }')
	best_ta=$(awk -v x="$ta" -v y="${best_ta:-0}" 'BEGIN { print (x > y ? x : y) }')
	best_tb=$(awk -v x="$tb" -v y="${best_tb:-0}" 'BEGIN { print (x > y ? x : y) }')
done
printf '%d threads, best of %d, A = %s, B = %s\n' "$OMP_NUM_THREADS" "$repeats" "$A" "$B"
awk -v s="$secs" -v a="$best_sa" -v b="$best_sb" 'BEGIN {
	printf "base.ini separation  A %6.1f x realtime  B %6.1f x realtime  B/A %.3f\n", s / a, s / b, a / b }'
awk -v a="$best_ta" -v b="$best_tb" 'BEGIN {
	printf "small.ini training   A %6.2f examples/s  B %6.2f examples/s  B/A %.3f\n", a, b, b / a }'
