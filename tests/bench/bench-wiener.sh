#!/usr/bin/env bash
# bench-wiener.sh: what sepnet-fwd --wiener N gains and costs.
#
# SONGS songs of SECONDS_SONG (make-dataset --seed 2026, which the bundled
# demo model never saw; MODEL, default demo) separated with --wiener 0, 1
# and 2 (Open-Unmix's EM, lib/ops/wiener.c) by examples/heldout.sh: per
# stem and N the mean SI-SDR against the true stems and its gain over
# doing nothing, and the seconds each N takes (the filter's cost beside
# the model's).
#   SONGS=4 SECONDS_SONG=60 tests/bench/bench-wiener.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
songs=${SONGS:-4} secs=${SECONDS_SONG:-30}
gen=$OBJDIR/tests/tools/make-dataset
[ -x "$gen" ] || { echo "bench-wiener: $gen not built (make)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" --seed 2026 --train 0 --test "$songs" --seconds "$secs" "$tmp/data" >/dev/null
examples/heldout.sh -m "${MODEL:-demo}" -r "$tmp/data" -w "0 1 2" -o "$tmp/eval"
