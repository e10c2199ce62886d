#!/usr/bin/env bash
# examples/bs-vs-tiny.sh: the band-split model against the transformer in
# the same CPU wall time (issue 18's comparison; docs/DESIGN.md §4).
#
#   examples/bs-vs-tiny.sh [-o DIR] [-s SECONDS] [-m "CONFIG ..."] [-d ROOT]
#
# 1. 48 training and 8 held-out songs of 10-12.5 s from the test suite's
#    generator (tests/tools/make-dataset, seed 11), or ROOT's train and
#    test splits (a MUSDB18-HQ layout, e.g. make-dataset --render's).
# 2. configs/tiny.ini and configs/bs-tiny.ini (or -m's configs), their [model] sections with
#    one training recipe (demo.ini's: batch 4 of 1 s, learning rate 2e-3
#    after 50 warm-up steps, waveform and spectral L1; no EMA, no
#    validation), trained side by side, one core each (OMP_NUM_THREADS=1),
#    for SECONDS (default 150) of wall time: sepnet-train ends at SIGTERM
#    with last.safetensors.
# 3. Both checkpoints separate the held-out songs (stft | sepnet-fwd |
#    istft) and sisdr scores them: a table of mean SI-SDR per stem, with the
#    mixture (no separation) as a floor.
set -euo pipefail
usage="usage: bs-vs-tiny.sh [-o DIR] [-s SECONDS] [-m \"CONFIG ...\"] [-d ROOT]"
root=$(cd "$(dirname "$0")/.." && pwd)
out=runs/bs-vs-tiny seconds=150 models="tiny bs-tiny" data=
while getopts o:s:m:d:h opt; do
	case $opt in
	o) out=$OPTARG ;;
	s) seconds=$OPTARG ;;
	m) models=$OPTARG ;;
	d) data=$(cd "$OPTARG" && pwd) ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "bs-vs-tiny.sh: -s: seconds, not '$seconds'" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH
mkdir -p "$out"
cd "$out"

if [ -n "$data" ]; then
	[ -L data ] || [ ! -e data ] ||
		{ echo "bs-vs-tiny.sh: $out/data holds generated songs: give another -o" >&2; exit 1; }
	ln -sfn "$data" data
elif [ ! -e data/.done ]; then
	rm -rf data
	make-dataset --seed 11 --train 48 --test 8 --seconds 10 data > /dev/null
	touch data/.done
fi
[ -e test.snt ] || musdb-cat test -r data > test.snt
[ -e mix.snt ] || musdb-cat test -r data --mixture > mix.snt

# a config: MODEL's [model] section and the shared recipe
recipe() {
	local f=$1
	[[ $f == */* ]] || f=$root/configs/$f.ini
	sed -n '/^\[model\]/,/^\[train\]/p' "$f" | sed '$d'
	sed -n '/^\[train\]/,$p' "$root/configs/demo.ini" |
		sed -e 's/^ema_decay = .*/ema_decay = 0/' -e 's/^epoch_size = .*/epoch_size = 100000000/' \
		    -e 's/^num_epochs = .*/num_epochs = 1/'
}

names=()
for f in $models; do
	m=$(basename "$f" .ini)
	names+=("$m")
	recipe "$f" > "$m.ini"
	rm -rf "run-$m-$seconds"
	# musdb-cat's records are endless; SIGTERM makes sepnet-train save and stop
	( set +o pipefail
	  musdb-cat train -r data -c "$m.ini" --seed 1 |
		OMP_NUM_THREADS=1 timeout -s TERM "$seconds" sepnet-train -q -c "$m.ini" -o "run-$m-$seconds" \
			--log-every 10
	  exit 0 ) &
done
wait

printf '%-10s %6s %8s %8s %8s %8s %8s\n' model steps drums bass other vocals mean
for m in mixture "${names[@]}"; do
	if [ "$m" = mixture ]; then
		# every stem the mixture: the untrained transformer's equal split
		# X / 4 (SI-SDR does not see the scale)
		sepnet-fwd --init -c "$root/configs/tiny.ini" -o split.safetensors
		stft -c "$root/configs/tiny.ini" mix.snt | sepnet-fwd -m split.safetensors | istft > est.snt
		steps=-
	else
		ck=run-$m-$seconds/last.safetensors
		steps=$(grep '"type":"step"' "run-$m-$seconds/metrics.jsonl" | tail -1 |
			grep -oE '"step":[0-9]+' | cut -d: -f2)
		stft -c "$m.ini" mix.snt | sepnet-fwd -m "$ck" | istft > est.snt
	fi
	sisdr test.snt est.snt | awk -v m="$m" -v n="$steps" '
		/^mean/ { v[$(NF - 1)] = $NF; s += $NF; k++ }
		END { printf "%-10s %6s %8.2f %8.2f %8.2f %8.2f %8.2f\n", m, n, v["drums"], v["bass"],
		      v["other"], v["vocals"], s / k }'
done | tee "table-$seconds.txt"
