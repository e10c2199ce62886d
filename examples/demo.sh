#!/usr/bin/env bash
# examples/demo.sh: what `make demo` runs.
#
#   examples/demo.sh [-m MODEL] [-s SEED] [-d SECONDS] [-o DIR]
#
# Renders an example song (tests/tools/make-dataset --render: composed,
# played by sampled instruments) of seed 2026 with TimGM6mb, the SoundFont
# held out of training: a song and instruments the bundled model never
# heard (it was trained on seed 1's songs from the other SoundFonts, see
# examples/default-model.sh), separates it with the bundled model,
#
#   stft -c CONFIG < DIR/song/mixture.wav | sepnet-fwd -m MODEL | istft -o 'DIR/%s.wav'
#
# prints the SI-SDR of each separated stem against the song's true stem,
# beside the do-nothing baseline (the mixture itself as the estimate of
# every stem), and draws DIR/spectrograms.png: the mixture and the four
# separated stems, log magnitude against time (examples/spectrogram-plot).
#
# Writes DIR (default demo/): song/{mixture,drums,bass,other,vocals}.wav
# (the example and its true stems), {drums,bass,other,vocals}.wav (the
# model's), spectrograms.png (without gnuplot: skipped with a one-line
# notice, exit 0).  Tools come from $BINDIR (default bin/), the test
# helpers from $OBJDIR/tests/tools (default build/tests/tools).
set -euo pipefail
usage="usage: demo.sh [-m MODEL] [-s SEED] [-d SECONDS] [-o DIR]"
root=$(cd "$(dirname "$0")/.." && pwd)
model=$root/models/demo.safetensors seed=2026 seconds=20 dir=demo
while getopts m:s:d:o:h opt; do
	case $opt in
	m) model=$OPTARG ;;
	s) seed=$OPTARG ;;
	d) seconds=$OPTARG ;;
	o) dir=$OPTARG ;;
	h) echo "$usage"; exit 0 ;;
	*) echo "$usage" >&2; exit 2 ;;
	esac
done
[ $OPTIND -gt $# ] || { echo "$usage" >&2; exit 2; }
BIN=$(cd "$root" && cd "${BINDIR:-bin}" && pwd)
TESTBIN=$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd)
export PATH=$BIN:$TESTBIN:$PATH OBJDIR=${OBJDIR:-build}
stems="drums bass other vocals"

# the example song: one test track of the generator, moved to DIR/song
rm -rf "$dir/song" "$dir/.gen"
mkdir -p "$dir"
heldout_sf=/usr/share/sounds/sf2/TimGM6mb.sf2
[ -r $heldout_sf ] || { echo "demo.sh: $heldout_sf missing: run make deps as root" >&2; exit 1; }
make-dataset --render --soundfont $heldout_sf --seed "$seed" --train 0 --test 1 \
	--seconds "$seconds" "$dir/.gen" > /dev/null
mv "$dir/.gen/test/"*/ "$dir/song"
rm -rf "$dir/.gen"
song=$dir/song/mixture.wav
echo "example song: $song ($(soxi -d "$song"), $(soxi -r "$song") Hz, $(soxi -c "$song") channels;" \
	"make-dataset --render --seed $seed with TimGM6mb: never heard in training)"
info=$(sepnet-fwd --info -m "$model")
value() { awk -v k="$1" '$1 == k { print $NF; exit }' <<<"$info"; }
stft_opts=(-n "$(value n_fft)" -H "$(value hop_length)")
echo "model: ${model#"$root"/} ($(value parameters) parameters in $(model-export --dtype "$model")," \
	"n_fft $(value n_fft), hop $(value hop_length))"

start=$(date +%s%N)
stft "${stft_opts[@]}" < "$song" | sepnet-fwd -m "$model" | istft -o "$dir/%s.wav"
ms=$((($(date +%s%N) - start) / 1000000))
echo "stft | sepnet-fwd | istft -> $dir/{$(tr ' ' , <<<"$stems")}.wav in $ms ms"

# one SI-SDR value: sisdr's CSV line for REFERENCE ESTIMATE
sisdr_of() {
	sisdr --csv "$1" "$2" | awk -F, 'NR == 2 { print $3 }'
}
echo
echo "SI-SDR in dB against the true stems (the baseline: the mixture as every stem)"
printf '%-8s %8s %9s %8s\n' stem model baseline gain
for s in $stems; do
	printf '%s %s %s\n' "$s" "$(sisdr_of "$dir/song/$s.wav" "$dir/$s.wav")" \
		"$(sisdr_of "$dir/song/$s.wav" "$song")"
done | awk '{ printf "%-8s %8.2f %9.2f %+8.2f\n", $1, $2, $3, $2 - $3; m += $2; b += $3 }
	END { printf "%-8s %8.2f %9.2f %+8.2f\n", "mean", m / NR, b / NR, (m - b) / NR }'
echo

# the picture is optional: without gnuplot the stems and the table stand,
# and one line says how to get it
if ! command -v gnuplot > /dev/null; then
	echo "spectrograms: skipped, gnuplot not found (as root: apt-get install gnuplot-nox, or make deps)"
	exit 0
fi
estimates=()
for s in $stems; do estimates+=("$dir/$s.wav"); done
stft "${stft_opts[@]}" --chunk 0 "$song" "${estimates[@]}" |	# whole records: a panel each
	"$root/examples/spectrogram-plot" -o "$dir/spectrograms.png" - mixture $stems
echo "spectrograms: $dir/spectrograms.png"
