#!/usr/bin/env bash
# examples/heldout.sh: a model's SI-SDR per stem on songs it never heard,
# beside doing nothing, with and without the Wiener post-filter.
#
#   examples/heldout.sh [-m MODEL] [-r ROOT] [-w "0 1"] [-n SONGS] [-s SECONDS] [-o DIR]
#
# ROOT's test songs (a MUSDB18-HQ layout) are separated by sepnet-fwd -m
# MODEL --wiener N for each N of -w, as audio files; per stem and N the
# mean SI-SDR against the true stems (sisdr), beside the do-nothing
# baseline (the mixture as every stem), and the seconds each N took.
# Without -r, the held-out set is rendered into DIR/heldout first:
# SONGS (8) songs of SECONDS (60) to 1.25x that, make-dataset --render
# --seed 9001 (seeds training never uses: examples/default-model.sh
# trains on seed 1) with TimGM6mb only (the SoundFont training never
# uses), so the figures are of songs and instruments the model never
# heard.  Tools come from $BINDIR (default bin/), make-dataset from
# $OBJDIR/tests/tools (default build/tests/tools).
set -euo pipefail
usage='usage: heldout.sh [-m MODEL] [-r ROOT] [-w "0 1"] [-n SONGS] [-s SECONDS] [-o DIR]'
root=$(cd "$(dirname "$0")/.." && pwd)
model=demo data= wieners="0 1" songs=8 secs=60 dir=heldout-eval
while getopts m:r:w:n:s:o:h opt; do
	case $opt in
	m) model=$OPTARG ;;
	r) data=$OPTARG ;;
	w) wieners=$OPTARG ;;
	n) songs=$OPTARG ;;
	s) secs=$OPTARG ;;
	o) dir=$OPTARG ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[ $OPTIND -gt $# ] || { echo "$usage" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH
heldout_sf=/usr/share/sounds/sf2/TimGM6mb.sf2
mkdir -p "$dir"
if [ -z "$data" ]; then
	data=$dir/heldout
	if [ ! -e "$data/.done" ]; then
		[ -r $heldout_sf ] || { echo "heldout.sh: $heldout_sf missing: run make deps as root" >&2; exit 1; }
		rm -rf "$data"
		make-dataset --render --seed 9001 --train 0 --test "$songs" --seconds "$secs" \
			--soundfont $heldout_sf "$data" > "$dir/heldout.txt"
		touch "$data/.done"
	fi
fi
stems="drums bass other vocals"
sisdr_of() { sisdr --csv "$1" "$2" | awk -F, 'NR == 2 { print $3 }'; }

scores=$dir/scores
: > "$scores"
i=0
for song in "$data/test/"*/; do
	i=$((i + 1))
	for s in $stems; do
		echo "base $s $(sisdr_of "$song/$s.wav" "$song/mixture.wav")"
	done >> "$scores"
	for n in $wieners; do
		start=$(date +%s%N)
		sepnet-fwd -q -m "$model" --wiener "$n" "$song/mixture.wav" -o "$dir/w$n/$i/%s.wav"
		echo "time $n $(( ($(date +%s%N) - start) / 1000000 ))" >> "$scores"
		for s in $stems; do
			echo "w$n $s $(sisdr_of "$song/$s.wav" "$dir/w$n/$i/$s.wav")"
		done >> "$scores"
	done
done
[ "$i" -gt 0 ] || { echo "heldout.sh: no songs in $data/test" >&2; exit 1; }
seconds=$(for song in "$data/test/"*/; do soxi -D "$song/mixture.wav"; done | awk '{ t += $1 } END { print t }')
echo "model $model on $i songs of $data/test ($seconds s), mean SI-SDR in dB"
awk -v songs="$i" -v secs="$seconds" -v ws="$wieners" '
	$1 == "time" { t[$2] += $3 / 1000; next }
	{ sum[$1 " " $2] += $3; tot[$1] += $3 }
	END {
		nw = split(ws, w, " ")
		printf "%-8s %9s", "stem", "nothing"
		for (k = 1; k <= nw; k++)
			printf " %10s %7s", "wiener " w[k], "gain"
		printf "\n"
		split("drums bass other vocals", st, " ")
		for (j = 1; j <= 5; j++) {
			b = j < 5 ? sum["base " st[j]] / songs : tot["base"] / songs / 4
			printf "%-8s %9.2f", j < 5 ? st[j] : "mean", b
			for (k = 1; k <= nw; k++) {
				m = j < 5 ? sum["w" w[k] " " st[j]] / songs : tot["w" w[k]] / songs / 4
				printf " %10.2f %+7.2f", m, m - b
			}
			printf "\n"
		}
		for (k = 1; k <= nw; k++)
			printf "--wiener %s: %.1f s for %.0f s of audio (%.1fx realtime)\n", w[k], t[w[k]], secs, secs / t[w[k]]
	}' "$scores"
