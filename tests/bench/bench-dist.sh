#!/usr/bin/env bash
# bench-dist.sh: data-parallel training on this machine's cores, and the
# cost model of docs/DESIGN.md §5.6 for base.ini on 8 GPUs.
#
# Training examples per second of sepnet-train (what it logs in
# metrics.jsonl for the whole run, rank 0's: the ranks' global batch) for
# the tiny and small configs, three ways on the same records:
#   1 process, every thread       OMP_NUM_THREADS=$(nproc)
#   1 process, 1 thread           OMP_NUM_THREADS=1
#   N ranks, 1 thread each        mpirun -np N -x OMP_NUM_THREADS=1
# with N = nproc (2 here).  Then the all-reduce cost per step of base.ini's
# gradients for 8 ranks at NVLink and InfiniBand bandwidths.
#   CONFIGS=tiny STEPS_TINY=40 tests/bench/bench-dist.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
n=$(nproc)
configs=${CONFIGS:-tiny small}
declare -A steps=([tiny]=${STEPS_TINY:-40} [small]=${STEPS_SMALL:-4})
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

for p in musdb-cat sepnet-train sepnet-fwd; do
	[ -x "$BINDIR/$p" ] || { echo "bench-dist: $BINDIR/$p not built (make)" >&2; exit 1; }
done
if ! command -v mpirun > /dev/null || ! "$BINDIR/sepnet-train" --version | grep -q 'data-parallel: [^n]'; then
	echo "bench-dist: no mpirun, or sepnet-train built without MPI (make deps; make): skipped"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$OBJDIR/tests/tools/make-dataset" --seed 1 --train 6 --test 0 --seconds 12 "$tmp/ds" > /dev/null

eps() {
	grep '"type":"step"' "$1/metrics.jsonl" | tail -1 | grep -oE '"examples_per_s":[^,}]*' | cut -d: -f2
}

printf 'training examples per second, %d cores; ranks share the global batch\n' "$n"
for c in $configs; do
	cfg=configs/$c.ini s=${steps[$c]:-4}
	per_step=$(awk -F' *= *' '$1 == "batch_size" { b = $2 } $1 == "gradient_accum" { a = $2 }
		END { print b * a }' "$cfg")
	"$BINDIR/musdb-cat" train -r "$tmp/ds" -c "$cfg" -j 1 -n $((s * per_step)) > "$tmp/train.snt"
	args=(-q -c "$cfg" --steps "$s" --epoch-size 1000000000)
	OMP_NUM_THREADS=$n "$BINDIR/sepnet-train" "${args[@]}" -o "$tmp/$c-all" "$tmp/train.snt"
	OMP_NUM_THREADS=1 "$BINDIR/sepnet-train" "${args[@]}" -o "$tmp/$c-one" "$tmp/train.snt"
	mpirun --oversubscribe -np "$n" -x OMP_NUM_THREADS=1 \
		"$BINDIR/sepnet-train" "${args[@]}" -o "$tmp/$c-ranks" "$tmp/train.snt"
	a=$(eps "$tmp/$c-all") o=$(eps "$tmp/$c-one") r=$(eps "$tmp/$c-ranks")
	printf '%s (batch %d, %d steps)\n' "$c" "$per_step" "$s"
	printf '  1 process, %d threads   %8.2f examples/s\n' "$n" "$a"
	printf '  1 process, 1 thread    %8.2f examples/s\n' "$o"
	printf '  %d ranks, 1 thread each %8.2f examples/s  (%.2f x one thread: efficiency %.0f %%; %.2f x %d threads)\n' \
		"$n" "$r" "$(echo "$r / $o" | bc -l)" "$(echo "100 * $r / $o / $n" | bc -l)" \
		"$(echo "$r / $a" | bc -l)" "$n"
done

# the cost model: ring all-reduce of f32 gradients over 8 ranks moves
# 2 (N-1)/N of them through each rank's link
"$BINDIR/sepnet-fwd" --init -c configs/base.ini -o "$tmp/base.safetensors" 2> /dev/null
params=$("$BINDIR/sepnet-fwd" --info -m "$tmp/base.safetensors" | awk '/^parameters/ { print $2 }')
awk -v p="$params" 'BEGIN {
	N = 8; bytes = 4 * p; moved = 2 * (N - 1) / N * bytes
	printf "base.ini on %d GPUs: %d parameters, %.1f MB of f32 gradients a step, %.1f MB through each link (ring)\n",
		N, p, bytes / 1e6, moved / 1e6
	split("NVLink-4 (H100 SXM, ~370 GB/s bus)|InfiniBand 400 Gb/s (~45 GB/s)|InfiniBand 100 Gb/s (~11 GB/s)", name, "|")
	split("370 45 11", bw, " ")
	for (i = 1; i <= 3; i++)
		printf "  %-38s all-reduce %7.2f ms\n", name[i], moved / (bw[i] * 1e9) * 1e3
}'
