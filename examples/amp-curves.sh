#!/usr/bin/env bash
# examples/amp-curves.sh: training in f32 against training with bf16 GEMMs
# ([train] use_amp on a CPU with AVX512-BF16 or AMX; issue 20), the same
# model, data, seed and recipe, side by side in the same wall time.
#
#   examples/amp-curves.sh [-o DIR] [-s SECONDS] [-c CONFIG]
#
# 1. 48 training and 8 held-out songs of 10-12.5 s (tests/tools/make-dataset,
#    seed 11, as examples/bs-vs-tiny.sh).
# 2. CONFIG's [model] (default configs/demo.ini, the bundled model's) with
#    demo.ini's recipe, use_amp = false and use_amp = true, trained side by
#    side, one core each, for SECONDS (default 300) of wall time.
# 3. The curves: the training loss, averaged over windows of 50 steps, of
#    both at the same steps; then each checkpoint separates the held-out
#    songs and sisdr scores them (mean SI-SDR per stem).
set -euo pipefail
usage="usage: amp-curves.sh [-o DIR] [-s SECONDS] [-c CONFIG]"
root=$(cd "$(dirname "$0")/.." && pwd)
out=runs/amp-curves seconds=300 config=demo
while getopts o:s:c:h opt; do
	case $opt in
	o) out=$OPTARG ;;
	s) seconds=$OPTARG ;;
	c) config=$OPTARG ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "amp-curves.sh: -s: seconds, not '$seconds'" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH
[[ $config == */* ]] || config=$root/configs/$config.ini
[ "$(gemm-peak --has-bf16)" = yes ] ||
	echo "amp-curves.sh: this processor has no bf16: both runs are f32" >&2
mkdir -p "$out"
cd "$out"

if [ ! -e data/.done ]; then
	rm -rf data
	make-dataset --seed 11 --train 48 --test 8 --seconds 10 data > /dev/null
	touch data/.done
fi
[ -e test.snt ] || musdb-cat test -r data > test.snt
[ -e mix.snt ] || musdb-cat test -r data --mixture > mix.snt

for amp in false true; do
	{ sed -n '/^\[model\]/,/^\[train\]/p' "$config" | sed '$d'
	  sed -n '/^\[train\]/,$p' "$root/configs/demo.ini" |
		sed -e 's/^ema_decay = .*/ema_decay = 0/' -e 's/^epoch_size = .*/epoch_size = 100000000/' \
		    -e 's/^num_epochs = .*/num_epochs = 1/' -e "s/^use_amp = .*/use_amp = $amp/"
	} > "amp-$amp.ini"
	rm -rf "run-$amp"
	# musdb-cat's records are endless; SIGTERM makes sepnet-train save and stop
	( set +o pipefail
	  musdb-cat train -r data -c "amp-$amp.ini" --seed 1 |
		OMP_NUM_THREADS=1 timeout -s TERM "$seconds" sepnet-train -q -c "amp-$amp.ini" \
			-o "run-$amp"
	  exit 0 ) &
done
wait

# step, loss of one run's metrics.jsonl
losses() {
	grep '"type":"step"' "run-$1/metrics.jsonl" |
		sed -E 's/.*"step":([0-9]+).*"loss":([-0-9.eE+]+).*/\1 \2/'
}
losses false > f32.txt
losses true > bf16.txt
echo "training loss, mean over 50 steps (f32 | bf16 GEMMs)"
printf '%8s %10s %10s\n' steps f32 bf16
join f32.txt bf16.txt | awk '{ a += $2; b += $3; n++ }
	n == 50 { printf "%8d %10.4f %10.4f\n", $1, a / n, b / n; a = b = n = 0 }' | tee curves.txt
for amp in false true; do
	printf '%s: %s steps in %s s\n' "$([ $amp = true ] && echo bf16 || echo f32)" \
		"$(tail -1 "$([ $amp = true ] && echo bf16 || echo f32).txt" | cut -d' ' -f1)" "$seconds"
done

printf '%-8s %8s %8s %8s %8s %8s\n' run drums bass other vocals mean
for amp in false true; do
	stft -c "amp-$amp.ini" mix.snt | sepnet-fwd -m "run-$amp/last.safetensors" | istft > est.snt
	sisdr test.snt est.snt | awk -v m="$([ $amp = true ] && echo bf16 || echo f32)" '
		/^mean/ { v[$(NF - 1)] = $NF; s += $NF; k++ }
		END { printf "%-8s %8.2f %8.2f %8.2f %8.2f %8.2f\n", m, v["drums"], v["bass"],
		      v["other"], v["vocals"], s / k }'
done | tee table.txt
