#!/usr/bin/env bash
# examples/experiment/train.sh: one config's training run for the
# experiment Makefile, resumed where it stopped.
#
#   train.sh ROOT CONFIG RUN_DIR VALID STEPS [-d DEVICE]
#
# Resumes RUN_DIR (sepnet-train --resume, musdb-cat --skip the records it
# used) when it holds a run of this very config that has not gone past
# STEPS; otherwise starts it afresh.  Keeps in RUN_DIR: source.ini (the
# config it was started with), steps (the step reached) and seconds (the
# training wall time, summed over resumptions).
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: train.sh ROOT CONFIG RUN_DIR VALID STEPS [-d DEVICE]" >&2; exit 2; }
root=$1 config=$2 dir=$3 valid=$4 steps=$5
shift 5
args=(-q -o "$dir" --valid "$valid" --steps "$steps" "$@") skip=0 before=0
if [ -f "$dir/last.safetensors" ] && cmp -s "$config" "$dir/source.ini" &&
	[ "$(cat "$dir/steps" 2>/dev/null || echo 0)" -le "$steps" ]; then
	args+=(--resume)
	skip=$(sepnet-train --records -o "$dir")
	before=$(cat "$dir/seconds" 2>/dev/null || echo 0)
	echo "train.sh: resuming $dir after $skip records"
else
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$config" "$dir/source.ini"
	args+=(-c "$config")
fi
start=$(date +%s.%N)
# musdb-cat is endless and ends on the closed pipe: the status is sepnet-train's
set +o pipefail
musdb-cat train -r "$root" -c "$config" --skip "$skip" | sepnet-train "${args[@]}"
set -o pipefail
awk -v a="$before" -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", a + e - s }' > "$dir/seconds"
# the step reached: the last step line of the metrics
grep '"type":"step"' "$dir/metrics.jsonl" | tail -1 | sed 's/.*"step":\([0-9]*\).*/\1/' > "$dir/steps"
