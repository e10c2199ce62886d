#!/usr/bin/env bash
# bench-model.sh: stft | sepnet-fwd | istft against the PyTorch twin.
#
# 60 s of stereo 44.1 kHz noise (sox) through the small and base configs
# with fresh weights (sepnet-fwd --init), OMP_NUM_THREADS threads on both
# sides, best of 3:
#   sepnet  stft -c CONFIG < song.wav | sepnet-fwd -m MODEL | istft > /dev/null
#   torch   tests/bench/torch_model.py: the same STFT, segments (25 % overlap),
#           model and iSTFT with tests/reference/sepnet.py under no_grad
# x realtime = seconds of audio per second of wall time; peak RSS is
# sepnet-fwd's (/usr/bin/time).  The GEMM bound is the x realtime a machine
# doing nothing but sgemm at the rate measured here (numpy on the same
# OpenBLAS, 2048³) would reach on the model's FLOPs per audio second.
# On a machine shared with other work, OpenMP's busy-waiting threads (both
# sides use libgomp) make timings swing by 2-3x; OMP_WAIT_POLICY=passive in
# the environment steadies them.
#   SECONDS_AUDIO=20 CONFIGS=base tests/bench/bench-model.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
secs=${SECONDS_AUDIO:-60} repeats=${REPEATS:-3}
configs=${CONFIGS:-small base}

for p in stft istft sepnet-fwd; do
	[ -x "$BINDIR/$p" ] || { echo "bench-model: $BINDIR/$p not built (make)" >&2; exit 1; }
done
command -v sox >/dev/null || { echo "bench-model: sox not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
song=$tmp/song.wav
sox -R -n -r 44100 -c 2 -b 16 "$song" synth "$secs" pinknoise vol 0.5

now() { date +%s.%N; }
xrt() { awk -v a="$secs" -v t="$1" 'BEGIN { printf "%7.3f s %7.1f x realtime", t, a / t }'; }

printf '%s s stereo 44.1 kHz, %d threads, best of %d\n' "$secs" "$threads" $repeats
for c in $configs; do
	cfg=configs/$c.ini model=$tmp/$c.safetensors
	"$BINDIR/sepnet-fwd" --init -c "$cfg" -o "$model"
	params=$("$BINDIR/sepnet-fwd" --info -m "$model" | awk '/^parameters/ { print $2 }')
	best=
	for _ in $(seq $repeats); do
		t0=$(now)
		"$BINDIR/stft" -c "$cfg" < "$song" | "$BINDIR/sepnet-fwd" -m "$model" |
			"$BINDIR/istft" > /dev/null
		t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
		best=$(awk -v a="${best:-1e99}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
	done
	"$BINDIR/stft" -c "$cfg" < "$song" |
		/usr/bin/time -f %M -o "$tmp/rss" "$BINDIR/sepnet-fwd" -m "$model" > /dev/null
	rss=$(awk '{ printf "%.0f", $1 / 1024 }' "$tmp/rss")
	printf '%s (%s parameters)\n' "$c" "$params"
	printf '  sepnet stft | sepnet-fwd | istft  %s  (sepnet-fwd peak RSS %s MiB)\n' "$(xrt "$best")" "$rss"
	if out=$(/usr/bin/python3 tests/bench/torch_model.py "$model" "$secs" "$threads" $repeats 2>&1); then
		eval "$out"	# torch= gflops= flops_per_sec=
		printf '  torch  stft + model + istft       %s\n' "$(xrt "$torch")"
		awk -v s="$best" -v t="$torch" -v g="$gflops" -v f="$flops_per_sec" -v a="$secs" 'BEGIN {
			bound = g * 1e9 / f
			printf "  ratio  torch / sepnet %.2fx (>1: sepnet faster)\n", t / s
			printf "  GEMM bound: %.2f GFLOP per audio second at %.1f GFLOP/s sgemm = %.1f x realtime; sepnet reaches %.0f%% of it\n",
				f / 1e9, g, bound, 100 * (a / s) / bound }'
	else
		echo "  torch  not available (/usr/bin/python3 with torch and numpy): no ratio"
		echo "$out" | tail -1 | sed 's/^/  /'
	fi
done
