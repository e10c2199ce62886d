#!/usr/bin/env bash
# bench-bsroformer.sh: the band-split model (configs/bs-small.ini) against
# the bs-roformer package's BSRoformer running the same model, in the same
# run, OMP_NUM_THREADS threads on both sides, f32:
#   training  sepnet-train --steps N on musdb-cat's records of generated
#             songs (examples/s of its metrics, every step, the first
#             included) against tests/bench/torch_bsroformer.py train: the
#             package's modules between sepnet's STFT and iSTFT, sepnet's
#             loss, backward, clipping, AdamW
#   separation  stft | sepnet-fwd | istft on SECONDS of noise (fresh
#             weights) against torch_bsroformer.py separate (the same
#             segments, no_grad), best of REPEATS; x realtime, and the share
#             of the GEMM bound sepnet reaches (the model's FLOPs at the
#             machine's measured sgemm rate, as bench-model.sh)
# The PyTorch side needs the venv `make golden` makes
# ($OBJDIR/venv-bsroformer; made here when missing and PyPI is reachable).
#   STEPS=2 SECONDS_AUDIO=20 CONFIG=bs-tiny tests/bench/bench-bsroformer.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
c=${CONFIG:-bs-small} steps=${STEPS:-3} secs=${SECONDS_AUDIO:-20} repeats=${REPEATS:-2}
cfg=configs/$c.ini
for p in musdb-cat sepnet-train sepnet-fwd stft istft; do
	[ -x "$BINDIR/$p" ] || { echo "bench-bsroformer: $BINDIR/$p not built (make)" >&2; exit 1; }
done
py=$OBJDIR/venv-bsroformer/bin/python
[ -x "$py" ] || make -s "$py" OBJDIR="$OBJDIR" > /dev/null 2>&1 || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$OBJDIR/tests/tools/make-dataset" --seed 1 --train 4 --test 0 --seconds 8 "$tmp/ds" > /dev/null
sox -R -n -r 44100 -c 2 -b 16 "$tmp/song.wav" synth "$secs" pinknoise vol 0.5

batch=$(awk -F' *= *' '$1 == "batch_size" { b = $2 } $1 == "segment_length" { l = $2 }
	END { printf "%d segments of %.2f s", b, l / 44100 }' "$cfg")
per_step=$(awk -F' *= *' '$1 == "batch_size" { print $2 }' "$cfg")
"$BINDIR/musdb-cat" train -r "$tmp/ds" -c "$cfg" -j 1 -n $((steps * per_step)) |
	/usr/bin/time -f %M -o "$tmp/rss" "$BINDIR/sepnet-train" -q -c "$cfg" -o "$tmp/run" \
	--steps "$steps" --epoch-size 1000000000
eps=$(grep '"type":"step"' "$tmp/run/metrics.jsonl" | tail -1 | grep -oE '"examples_per_s":[^,}]*' | cut -d: -f2)
params=$("$BINDIR/sepnet-fwd" --info -m "$tmp/run/last.safetensors" | awk '/^parameters/ { print $2 }')
printf '%s (%s parameters), %d threads\n' "$c" "$params" "$threads"
printf '  training (steps of %s; %d steps)\n' "$batch" "$steps"
printf '    sepnet-train      %8.3f examples/s  (peak RSS %.0f MiB)\n' "$eps" "$(awk '{ print $1 / 1024 }' "$tmp/rss")"
torch_ok=
if [ -x "$py" ] && out=$("$py" tests/bench/torch_bsroformer.py train "$cfg" "$threads" "$steps" 2>&1); then
	eval "$out"	# torch_eps=
	torch_ok=1
	printf '    BSRoformer torch  %8.3f examples/s\n' "$torch_eps"
	awk -v s="$eps" -v t="$torch_eps" 'BEGIN { printf "    ratio sepnet / torch %.2fx (>1: sepnet faster)\n", s / t }'
else
	echo "    BSRoformer torch  not available ($py with bs-roformer): no ratio"
	echo "${out:-}" | tail -1 | sed 's/^/    /'
fi

"$BINDIR/sepnet-fwd" --init -c "$cfg" -o "$tmp/model.safetensors"
best=
for _ in $(seq "$repeats"); do
	t0=$(date +%s.%N)
	"$BINDIR/stft" -c "$cfg" < "$tmp/song.wav" | "$BINDIR/sepnet-fwd" -m "$tmp/model.safetensors" |
		"$BINDIR/istft" > /dev/null
	t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	best=$(awk -v a="${best:-1e99}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
done
printf '  separation (%s s of stereo noise, best of %d)\n' "$secs" "$repeats"
awk -v a="$secs" -v t="$best" 'BEGIN { printf "    stft | sepnet-fwd | istft  %7.2f s %6.2f x realtime\n", t, a / t }'
if [ -n "$torch_ok" ] && out=$("$py" tests/bench/torch_bsroformer.py separate "$cfg" "$threads" "$secs" "$repeats" 2>&1); then
	eval "$out"	# torch= gflops= flops_per_sec=
	awk -v a="$secs" -v t="$torch" 'BEGIN { printf "    BSRoformer torch           %7.2f s %6.2f x realtime\n", t, a / t }'
	awk -v s="$best" -v t="$torch" -v g="$gflops" -v f="$flops_per_sec" -v a="$secs" 'BEGIN {
		bound = g * 1e9 / f
		printf "    ratio torch / sepnet %.2fx (>1: sepnet faster)\n", t / s
		printf "    GEMM bound: %.1f GFLOP per audio second at %.1f GFLOP/s sgemm = %.2f x realtime; sepnet reaches %.0f%% of it\n",
			f / 1e9, g, bound, 100 * (a / s) / bound }'
else
	echo "    BSRoformer torch  not available: no ratio"
fi
