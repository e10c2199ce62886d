#!/usr/bin/env bash
# bench-musdb-cat.sh: throughput of the training stream, musdb-cat train
# -j 2 -n 2000 -l 441000 (10 s segments, 14.1 MB per record), to /dev/null
# and through a pipe into readers that discard the payload (snt-info, which
# skips it, and cat > /dev/null), on a synthetic dataset of 8 songs of
# 30-37 s written by make-dataset.  Prints records/s, MB/s (10^6 bytes)
# and peak memory.  The goal: at least 1 GB/s on 2 cores, so a GPU trainer
# consuming ~85 MB per base-config step is never starved.
#
#   MUSDB_BENCH_N=200 tests/bench/bench-musdb-cat.sh    (a shorter run)
set -eu
cd "$(dirname "$0")/../.."
BIN=$(cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "${OBJDIR:-build}" && pwd)/tests
PATH=$BIN:$TESTBIN/tools:$PATH
N=${MUSDB_BENCH_N:-2000}
L=441000
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

make-dataset --seed 1 --train 8 --test 0 --seconds 30 "$TMP/ds"
bytes=$(musdb-cat train -r "$TMP/ds" -l $L -n 1 | wc -c)

run() {	# LABEL COMMAND: time it and print the rates
	local label=$1 t0 t1 mem
	shift
	t0=$(date +%s.%N)
	mem=$( { /usr/bin/time -f %M bash -c "$*" 2>&1 >/dev/null; } | tail -1)
	t1=$(date +%s.%N)
	awk -v l="$label" -v n=$N -v b="$bytes" -v t0="$t0" -v t1="$t1" -v m="$mem" 'BEGIN {
		t = t1 - t0
		printf "musdb-cat %-34s %7.1f records/s %8.0f MB/s  %5.2f s  peak %4.0f MB\n",
			l, n / t, n * b / t / 1e6, t, m / 1024 }'
}

cat_train="musdb-cat train -r '$TMP/ds' -l $L -n $N"
run "-j 2 > /dev/null" "$cat_train -j 2 > /dev/null"
run "-j 2 | snt-info > /dev/null" "$cat_train -j 2 | snt-info > /dev/null"
run "-j 2 | cat > /dev/null" "$cat_train -j 2 | cat > /dev/null"
run "-j 1 > /dev/null" "$cat_train -j 1 > /dev/null"
run "-j 2 --cache > /dev/null" "$cat_train -j 2 --cache > /dev/null"
run "-j 2 --remix 1 > /dev/null" "$cat_train -j 2 --remix 1 > /dev/null"
