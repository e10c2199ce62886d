#!/usr/bin/env bash
# examples/demo-model.sh: the bundled model until December 6, trained from
# nothing but the test suite's generator (sines and noise); the bundled
# model is now trained on rendered songs (make default-model,
# examples/default-model.sh).  Writes RUN_DIR/model.safetensors.
#
#   examples/demo-model.sh [-o RUN_DIR] [-n STEPS] [-m MODEL]
#
# 1. 64 songs of 10-12.5 s from the test suite's generator
#    (tests/tools/make-dataset, seed 1); the first 4 carry MUSDB validation
#    names, so musdb-cat keeps them out of training: they are the held-out
#    songs that pick the best checkpoint.  (The demo's example song is
#    seed 2026: never seen here.)
# 2. STEPS (default 6000) steps of configs/demo.ini (batch 4 of 1 s segments) on
#    musdb-cat's augmented random segments of the other songs (seed 1).
# 3. The best checkpoint on the held-out songs, without the optimizer
#    moments and stored in f16, becomes MODEL (tests/tools/model-export).
#
# Deterministic: the same STEPS and OMP_NUM_THREADS give the same bytes
# (sepnet-train is bit-exact for a given thread count; see docs/DESIGN.md §7), as
# long as the generator, musdb-cat's augmentation and the trainer compute
# what they computed then.  The model bundled until December 6 was made with the defaults
# and OMP_NUM_THREADS=2 on a 2-core x86-64 machine shared with other work:
# 6000 steps in 36 minutes; held-out SI-SDR 7.20 dB (drums 8.36, bass
# 7.33, other 1.22, vocals 11.88).
# An interrupted run continues where it stopped: run the script again.
set -euo pipefail
usage="usage: demo-model.sh [-o RUN_DIR] [-n STEPS] [-m MODEL]"
root=$(cd "$(dirname "$0")/.." && pwd)
run=runs/demo steps=6000 model= songs=64
while getopts o:n:m:h opt; do
	case $opt in
	o) run=$OPTARG ;;
	n) steps=$OPTARG ;;
	m) model=$OPTARG ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[ $OPTIND -gt $# ] || { echo "$usage" >&2; exit 2; }
# the model is the best of the validations, which come once an epoch
[[ $steps =~ ^[0-9]+$ ]] && [ "$steps" -ge 100 ] ||
	{ echo "demo-model.sh: -n: at least one epoch of 100 steps, not '$steps'" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH
config=$root/configs/demo.ini
model=${model:-$run/model.safetensors}

mkdir -p "$run"
if [ ! -e "$run/data/.done" ]; then
	echo "demo-model: $songs generated songs (seed 1) in $run/data"
	rm -rf "$run/data"
	make-dataset --seed 1 --train "$songs" --test 0 --seconds 10 --valid-names 4 "$run/data"
	touch "$run/data/.done"
fi
[ -e "$run/valid.snt" ] || musdb-cat valid -r "$run/data" > "$run/valid.snt"

# the training records: endless, so --steps ends the run (and musdb-cat
# dies of the closed pipe: only sepnet-train's status counts); a resumed
# run skips the records the checkpoint already consumed
set +o pipefail
if [ -e "$run/train/last.safetensors" ]; then
	done_records=$(sepnet-train --records -o "$run/train")
	echo "demo-model: resuming $run/train after $done_records records"
	musdb-cat train -r "$run/data" -c "$config" --seed 1 --skip "$done_records" |
		sepnet-train --resume -o "$run/train" --valid "$run/valid.snt" --steps "$steps"
else
	echo "demo-model: training configs/demo.ini for $steps steps in $run/train"
	musdb-cat train -r "$run/data" -c "$config" --seed 1 |
		sepnet-train -c "$config" -o "$run/train" --valid "$run/valid.snt" --steps "$steps"
fi
set -o pipefail
model-export -t f16 "$run/train/best.safetensors" "$model"
