#!/usr/bin/env bash
# tests/fuzz/make-corpus.sh: seed corpora for the fuzz harnesses, made by
# the tools themselves, small so that mutations stay fast.
#
#   make-corpus.sh OUT     (tools from $BINDIR, default bin/)
#
# OUT/snt: stft, istft, sepnet-fwd and musdb-cat records; OUT/config: the
# shipped and fixture configs; OUT/safetensors: a minute model in F32 and
# F16; OUT/audio: a tenth of a second in every format the tools write.  The
# reproducers of tests/fuzz/regressions join the corpus of their kind.
set -euo pipefail
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$(cd "$root" && cd "${BINDIR:-bin}" && pwd):$(cd "$root" && cd "${OBJDIR:-build}/tests/tools" && pwd):$PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"/{snt,config,safetensors,audio}

sox -r 8000 -c 2 -n -b 16 "$tmp/a.wav" synth 0.1 sine 300 sine 500 gain -6
# a model small enough to mutate: n_fft 16, width 8, one layer
sed -e 's/^n_fft = .*/n_fft = 16/' -e 's/^hop_length = .*/hop_length = 4/' \
	-e 's/^n_layers = .*/n_layers = 1/' -e 's/^emb_dim = .*/emb_dim = 8/' \
	-e 's/^n_heads = .*/n_heads = 2/' -e 's/^attention_dim = .*/attention_dim = 8/' \
	-e 's/^ffn_hidden_dim = .*/ffn_hidden_dim = 8/' -e 's/^sample_rate = .*/sample_rate = 8000/' \
	-e 's/^segment_length = .*/segment_length = 256/' "$root/configs/tiny.ini" > "$tmp/min.ini"
sepnet-fwd --init -c "$tmp/min.ini" -o "$out/safetensors/min-f32.safetensors"
model-export -t f16 "$out/safetensors/min-f32.safetensors" "$out/safetensors/min-f16.safetensors" > /dev/null

stft -n 16 -H 4 "$tmp/a.wav" > "$out/snt/stft.snt"
istft "$out/snt/stft.snt" > "$out/snt/istft.snt"
sepnet-fwd -m "$out/safetensors/min-f32.safetensors" "$out/snt/stft.snt" > "$out/snt/stems.snt"
sepnet-fwd -m "$out/safetensors/min-f32.safetensors" "$tmp/a.wav" > "$out/snt/stems-wave.snt"
make-dataset --seed 1 --train 1 --test 0 --seconds 0.2 "$tmp/ds" > /dev/null
musdb-cat train -r "$tmp/ds" -l 64 -n 2 > "$out/snt/musdb-cat.snt"

cp "$root"/configs/*.ini "$root"/tests/fixtures/configs/*.ini "$tmp/min.ini" "$out/config/"

for f in wav flac ogg aiff au caf w64 mp3; do
	istft -o "$out/audio/a.$f" "$out/snt/stft.snt"
done
sox "$tmp/a.wav" -c 1 -r 22050 -b 24 "$out/audio/mono24.wav"
sox "$tmp/a.wav" -c 6 "$out/audio/six.wav" remix 1 2 1 2 1 2

reg=$root/tests/fuzz/regressions
cp "$reg"/*.snt "$out/snt/"
cp "$reg"/*.ini "$out/config/"
cp "$reg"/*.safetensors "$out/safetensors/"
cp "$reg"/*.au "$out/audio/"
