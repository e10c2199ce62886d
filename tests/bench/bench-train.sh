#!/usr/bin/env bash
# bench-train.sh: sepnet-train's training examples per second against the
# same training step in the PyTorch twin.
#
# For the tiny and small configs, with their own batch_size, gradient_accum,
# segment_length and dropout, OMP_NUM_THREADS threads on both sides:
#   sepnet  musdb-cat train (a generated dataset, make-dataset) piped into
#           sepnet-train --steps N; examples/s is what it logs in
#           metrics.jsonl for the whole run (every step, the first included;
#           reading the records included; startup excluded)
#   torch   tests/bench/torch_train.py: N steps of tests/reference/sepnet.py
#           (STFT, model, iSTFT, loss, backward, clip_grad_norm_, AdamW) on
#           random stems, every step timed
# sepnet runs twice, with the config's use_amp set false (f32) and true
# (bf16 GEMMs where the processor has AVX512-BF16 or AMX; f32 elsewhere);
# torch computes in f32.  Peak RSS is sepnet-train's (/usr/bin/time).  On a machine shared with other work,
# OMP_WAIT_POLICY=passive steadies the timings (see bench-model.sh).
#   CONFIGS=tiny STEPS_TINY=50 tests/bench/bench-train.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
configs=${CONFIGS:-tiny small}
declare -A steps=([tiny]=${STEPS_TINY:-30} [small]=${STEPS_SMALL:-2})

for p in musdb-cat sepnet-train; do
	[ -x "$BINDIR/$p" ] || { echo "bench-train: $BINDIR/$p not built (make)" >&2; exit 1; }
done
[ -x "$OBJDIR/tests/tools/make-dataset" ] || { echo "bench-train: $OBJDIR/tests/tools/make-dataset not built (make)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$OBJDIR/tests/tools/make-dataset" --seed 1 --train 6 --test 0 --seconds 12 "$tmp/ds" > /dev/null

printf '%d threads; training examples per second (one example = one segment of segment_length samples)\n' "$threads"
for c in $configs; do
	cfg=configs/$c.ini n=${steps[$c]:-2}
	run=$tmp/run-$c
	per_step=$(awk -F' *= *' '$1 == "batch_size" { b = $2 } $1 == "gradient_accum" { a = $2 }
		END { print b * a }' "$cfg")
	declare -A eps=()
	for p in f32 bf16; do
		amp=$([ $p = bf16 ] && echo true || echo false)
		sed "s/^use_amp = .*/use_amp = $amp/" "$cfg" > "$tmp/$c-$p.ini"
		"$BINDIR/musdb-cat" train -r "$tmp/ds" -c "$cfg" -j 1 -n $((n * per_step)) |
			/usr/bin/time -f %M -o "$tmp/rss-$p" "$BINDIR/sepnet-train" -q -c "$tmp/$c-$p.ini" \
			-o "$run-$p" --steps "$n" --epoch-size 1000000000
		eps[$p]=$(grep '"type":"step"' "$run-$p/metrics.jsonl" | tail -1 |
			grep -oE '"examples_per_s":[^,}]*' | cut -d: -f2)
	done
	params=$("$BINDIR/sepnet-fwd" --info -m "$run-f32/last.safetensors" | awk '/^parameters/ { print $2 }')
	batch=$(awk -F' *= *' '$1 == "batch_size" { b = $2 } $1 == "gradient_accum" { a = $2 }
		$1 == "segment_length" { l = $2 } END { printf "%d x %d segments of %.2f s", b, a, l / 44100 }' "$cfg")
	printf '%s (%s parameters; steps of %s; %d steps)\n' "$c" "$params" "$batch" "$n"
	for p in f32 bf16; do
		printf '  sepnet-train %-4s %8.2f examples/s  (peak RSS %s MiB)\n' $p "${eps[$p]}" \
			"$(awk '{ printf "%.0f", $1 / 1024 }' "$tmp/rss-$p")"
	done
	if out=$(/usr/bin/python3 tests/bench/torch_train.py "$cfg" "$threads" "$n" 2>&1); then
		eval "$out"	# torch_eps=
		printf '  torch        f32  %8.2f examples/s\n' "$torch_eps"
		awk -v s="${eps[f32]}" -v b="${eps[bf16]}" -v t="$torch_eps" 'BEGIN {
			printf "  ratio  sepnet / torch: f32 %.2fx, bf16 %.2fx (>1: sepnet faster)\n", s / t, b / t }'
	else
		echo "  torch  not available (/usr/bin/python3 with torch): no ratio"
		echo "$out" | tail -1 | sed 's/^/  /'
	fi
done
