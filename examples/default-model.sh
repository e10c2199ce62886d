#!/usr/bin/env bash
# examples/default-model.sh: a model trained on rendered songs, measured on
# held-out ones: the recipe of `make default-model`.
#
#   examples/default-model.sh [-c CONFIG] [-o RUN_DIR] [-n STEPS] [-s SONGS] [-d SECONDS] [-m MODEL]
#
# 1. SONGS (default 96) songs of SECONDS (60) to 1.25x that from
#    make-dataset --render --seed 1 with the default training SoundFonts
#    (every one make deps installs but TimGM6mb); the first 6 carry MUSDB
#    validation names, so musdb-cat keeps them out of training: they pick
#    the best checkpoint.
# 2. STEPS (default 20000) steps of CONFIG (default configs/default.ini) on
#    musdb-cat's augmented random segments of the other songs (seed 1).
# 3. The best checkpoint on the validation songs, without the optimizer
#    moments and stored in f16, becomes MODEL (tests/tools/model-export;
#    default RUN_DIR/model.safetensors).
# 4. examples/heldout.sh on 8 held-out songs (seed 9001, TimGM6mb only:
#    songs and instruments training never used), with --wiener 0 and 1:
#    the per-stem table, in RUN_DIR/heldout.txt.
#
# An interrupted run continues where it stopped: run the script again
# (the data and validation records are kept; sepnet-train resumes from
# last.safetensors and musdb-cat skips the records it consumed).
set -euo pipefail
usage="usage: default-model.sh [-c CONFIG] [-o RUN_DIR] [-n STEPS] [-s SONGS] [-d SECONDS] [-m MODEL]"
root=$(cd "$(dirname "$0")/.." && pwd)
config=$root/configs/default.ini run=runs/default steps=20000 songs=96 secs=60 model=
while getopts c:o:n:s:d:m:h opt; do
	case $opt in
	c) config=$OPTARG ;;
	o) run=$OPTARG ;;
	n) steps=$OPTARG ;;
	s) songs=$OPTARG ;;
	d) secs=$OPTARG ;;
	m) model=$OPTARG ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[ $OPTIND -gt $# ] || { echo "$usage" >&2; exit 2; }
[[ $steps =~ ^[0-9]+$ ]] && [ "$steps" -ge 1 ] ||
	{ echo "default-model.sh: -n: a positive step count, not '$steps'" >&2; exit 2; }
[[ $songs =~ ^[0-9]+$ ]] && [ "$songs" -ge 8 ] ||
	{ echo "default-model.sh: -s: at least 8 songs (6 validate), not '$songs'" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH
model=${model:-$run/model.safetensors}

mkdir -p "$run"
if [ ! -e "$run/data/.done" ]; then
	echo "default-model: rendering $songs songs (seed 1) in $run/data"
	rm -rf "$run/data"
	make-dataset --render --seed 1 --train "$songs" --test 0 --seconds "$secs" --valid-names 6 \
		"$run/data" > "$run/data.txt"
	touch "$run/data/.done"
fi
[ -e "$run/valid.snt" ] || musdb-cat valid -r "$run/data" > "$run/valid.snt"

# the training records: endless, so --steps ends the run (and musdb-cat
# dies of the closed pipe: only sepnet-train's status counts)
set +o pipefail
if [ -e "$run/train/last.safetensors" ]; then
	done_records=$(sepnet-train --records -o "$run/train")
	echo "default-model: resuming $run/train after $done_records records"
	musdb-cat train -r "$run/data" -c "$config" --seed 1 --skip "$done_records" |
		sepnet-train --resume -o "$run/train" --valid "$run/valid.snt" --steps "$steps"
else
	echo "default-model: training $(basename "$config") for $steps steps in $run/train"
	musdb-cat train -r "$run/data" -c "$config" --seed 1 |
		sepnet-train -c "$config" -o "$run/train" --valid "$run/valid.snt" --steps "$steps"
fi
set -o pipefail
model-export -t f16 "$run/train/best.safetensors" "$model"
echo "default-model: $model ($(model-export --dtype "$model"), $(stat -c %s "$model") bytes)"
"$root/examples/heldout.sh" -m "$model" -w "0 1" -o "$run/heldout" | tee "$run/heldout.txt"
