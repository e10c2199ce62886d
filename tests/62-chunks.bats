#!/usr/bin/env bats
# Chunked tracks (issue 16, docs/DESIGN.md §2): stft --chunk writes a long
# track as chunk records of the whole track's own frames; istft and
# sepnet-fwd carry their state across chunks, so every chunk size, even
# one that cuts a model segment anywhere, gives the whole track's result.

load helper

setup() {
	require stft istft sepnet-fwd snt-info snt-cmp snt-join sox
	cd "$BATS_TEST_TMPDIR"
	TINY=$ROOT/configs/tiny.ini
	sepnet-fwd --init -c "$TINY" -o fresh.safetensors
	make_wav in.wav 4.3
}

@test "stft --chunk: the chunks joined are the whole track's spectrogram, bit for bit" {
	stft -c "$TINY" in.wav > whole.snt
	for s in 0.01 0.3 1.1 2.5 4.2; do
		stft -c "$TINY" --chunk $s in.wav > chunks.snt
		[ "$(snt-info chunks.snt | wc -l)" -gt 1 ]
		snt-join chunks.snt > joined.snt
		cmp whole.snt joined.snt
	done
	stft -c "$TINY" --chunk 5 in.wav | cmp - whole.snt	# longer than the track: whole
	# read in blocks, mapped to stereo and resampled as it comes: the same
	sox -R -n -r 48000 -c 1 -b 16 m48.wav synth 3.3 pinknoise vol 0.5
	stft -c "$TINY" m48.wav > whole48.snt
	stft -c "$TINY" --chunk 0.9 m48.wav | snt-join | cmp - whole48.snt
	# from standard input, as it arrives: the same, and a WAV stream of
	# open length gets its total and length on its last chunk
	stft -c "$TINY" --chunk 0 < m48.wav > stdin48.snt	# read whole (no file or track key)
	stft -c "$TINY" --chunk 0.9 < m48.wav | snt-join | cmp - stdin48.snt
	stft -c "$TINY" --chunk 0 < in.wav > stdin.snt
	stft -c "$TINY" < in.wav | cmp - stdin.snt	# one chunk: one record, as whole
	sepnet-fwd -m fresh.safetensors -s vocals -o - in.wav > open.wav
	stft -c "$TINY" --chunk 0.5 < open.wav > open.snt
	run snt-info open.snt
	assert_line --index 0 --regexp 'center=1 chunk=0 offset=0'$'\t'
	assert_line --index 8 --partial 'length=189630 chunk=8 offset=1376 total=1482 last=1'
	istft -o open-back.wav open.snt
	[ "$(soxi -s open-back.wav)" = 189630 ]
	sepnet-fwd -m fresh.safetensors -s bass -o 'open/%s.wav' open.snt
	[ "$(soxi -s open/bass.wav)" = 189630 ]
}

@test "stft transforms chunked waveform records as they come: the whole record's frames" {
	stft -c "$TINY" in.wav | istft | stft -c "$TINY" > whole.snt
	stft -c "$TINY" --chunk 0.6 in.wav | istft | stft -c "$TINY" > chunks.snt
	[ "$(snt-info chunks.snt | wc -l)" -gt 4 ]
	snt-join chunks.snt | cmp - whole.snt
	# a chunk cannot be resampled alone
	sox -n -r 48000 -c 2 i48.wav synth 2 sine 300
	run --separate-stderr sh -c "stft -n 512 -H 128 --chunk 0.5 i48.wav | istft | stft -c '$TINY' > /dev/null"
	assert_failure 1
	[[ "$stderr" == *"record 0: a chunk of a track at 48000 Hz, and 44100 Hz is wanted: resample whole records (or the audio file)"* ]]
}

@test "snt-info shows a chunk's place: chunk, offset, total, last" {
	stft -c "$TINY" --chunk 2 in.wav > chunks.snt
	run snt-info chunks.snt
	assert_line --index 0 --regexp 'chunk=0 offset=0 total=1482'
	assert_line --index 2 --regexp 'chunk=2 offset=1378 total=1482 last=1'
}

@test "istft inverts chunks as it reads them: the whole track's waveform" {
	stft -c "$TINY" in.wav | istft > whole.snt
	for s in 0.02 0.3 1.7; do
		stft -c "$TINY" --chunk $s in.wav | istft > chunks.snt
		run snt-info chunks.snt
		assert_line --index 0 --partial 'chunk=0 offset=0 total=189630'
		snt-join chunks.snt > joined.snt
		run snt-cmp -t 1e-5 whole.snt joined.snt
		assert_success
	done
}

@test "sepnet-fwd carries its segments across chunks: the stems of the whole track" {
	for overlap in 0.25 0.6; do
		stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors --overlap $overlap | istft > whole.snt
		for s in 0.05 0.37 1.6; do
			stft -c "$TINY" --chunk $s in.wav |
				sepnet-fwd -m fresh.safetensors --overlap $overlap | istft > chunks.snt
			snt-join chunks.snt > joined.snt
			run snt-cmp -t 1e-5 whole.snt joined.snt
			assert_success
		done
	done
	# the selected stems and the instrumental, chunked
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors -s instrumental,bass | istft > whole.snt
	stft -c "$TINY" --chunk 0.7 in.wav | sepnet-fwd -m fresh.safetensors -s instrumental,bass |
		istft | snt-join > joined.snt
	run snt-cmp -t 1e-5 whole.snt joined.snt
	assert_success
}

@test "istft -o writes a chunked track's files as it goes: the whole track's audio" {
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors | istft -o 'whole/%s.wav'
	stft -c "$TINY" --chunk 0.5 in.wav | sepnet-fwd -m fresh.safetensors | istft -o 'chunks/%s.wav'
	for s in drums bass other vocals; do
		run snt-cmp -t 1e-5 whole/$s.wav chunks/$s.wav
		assert_success
	done
	# sepnet-fwd -o writes them itself, as istft -o would; a resampled
	# track goes back to its rate, the instrumental among the stems
	stft -c "$TINY" --chunk 0.5 in.wav | sepnet-fwd -m fresh.safetensors -o 'fwd/%s.wav'
	for s in drums bass other vocals; do
		run snt-cmp -t 0 chunks/$s.wav fwd/$s.wav
		assert_success
	done
	sox -R -n -r 48000 -c 1 -b 16 m48.wav synth 2.3 pinknoise vol 0.5
	stft -c "$TINY" m48.wav | sepnet-fwd -m fresh.safetensors -s instrumental,bass -o 'w48/%s.wav'
	stft -c "$TINY" --chunk 0.4 m48.wav |
		sepnet-fwd -m fresh.safetensors -s instrumental,bass -o 'c48/%s.flac' -b 24
	[ "$(soxi -r c48/bass.flac)" = 48000 ] && [ "$(soxi -s c48/bass.flac)" = 110400 ]
	run snt-cmp -t 1e-4 w48/instrumental.wav c48/instrumental.flac
	assert_success
}

@test "istft -o restores a chunked track to its input's rate and length as it goes" {
	sox -R -n -r 48000 -c 1 -b 16 in48.wav synth 3.1 pinknoise vol 0.5
	stft -c "$TINY" in48.wav | sepnet-fwd -m fresh.safetensors | istft -o 'whole/%s.wav'
	stft -c "$TINY" --chunk 0.4 in48.wav | sepnet-fwd -m fresh.safetensors | istft -o 'chunks/%s.wav'
	for s in drums bass other vocals; do
		[ "$(soxi -r chunks/$s.wav)" = 48000 ]
		[ "$(soxi -s chunks/$s.wav)" = "$(soxi -s in48.wav)" ]
		run snt-cmp -t 1e-5 whole/$s.wav chunks/$s.wav
		assert_success
	done
	# a stream goes back to the input's rate and length too: the whole
	# record's bytes once joined
	stft -c "$TINY" in48.wav | istft > whole48.snt
	stft -c "$TINY" --chunk 0.4 in48.wav | istft > chunks48.snt
	run snt-info chunks48.snt
	assert_line --index 0 --partial 'sr=48000 track=in48 file=in48.wav length=148800 chunk=0 offset=0 total=148800'
	snt-join chunks48.snt | cmp - whole48.snt
	# -r: another rate, the length scaled
	stft -c "$TINY" --chunk 0.4 in48.wav | sepnet-fwd -m fresh.safetensors -s vocals |
		istft -r 22050 -o 'r/%s.wav'
	[ "$(soxi -r r/vocals.wav)" = 22050 ]
	[ "$(soxi -s r/vocals.wav)" = $(( (148800 * 22050 + 24000) / 48000 )) ]
}

@test "sisdr joins a chunked track's chunks: the whole track's scores" {
	sepnet-fwd --init -c "$TINY" -o other.safetensors --seed 9
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors | istft > ref.snt
	stft -c "$TINY" in.wav | sepnet-fwd -m other.safetensors | istft > whole.snt
	stft -c "$TINY" --chunk 0.6 in.wav | sepnet-fwd -m other.safetensors | istft > chunks.snt
	[ "$(snt-info chunks.snt | wc -l)" -gt 4 ]
	sisdr ref.snt whole.snt > a.txt
	sisdr ref.snt chunks.snt > b.txt
	diff a.txt b.txt
	sisdr --bss --csv ref.snt whole.snt > a.csv
	sisdr --bss --csv chunks.snt ref.snt > /dev/null	# chunks as the reference too
	sisdr --bss --csv ref.snt chunks.snt > b.csv
	diff a.csv b.csv
	# a chunked track cut short is an error naming it
	stft -c "$TINY" --chunk 0.6 in.wav | sepnet-fwd -m other.safetensors | istft |
		head -c 300000 > cut.snt || true
	run sisdr ref.snt cut.snt
	assert_failure 1
	assert_output --partial 'cut.snt'
}

@test "a truncated chunked stream fails with one line naming the record; the tracks before it are complete files" {
	make_wav a.wav 1.2
	stft -c "$TINY" a.wav | istft -o 'ref/%t.wav'
	# the first chunk of a track whose later chunks never come
	{
		stft -c "$TINY" a.wav
		record SNT1 $'dtype=c64\nshape=2,257,10\nsr=44100\ntrack=b\nn_fft=512\nhop=128\nchunk=0\noffset=0\n' $((2 * 257 * 10 * 8))
	} > cut.snt
	run istft -o 'out/%t.wav' cut.snt
	assert_failure 1
	assert_output "istft: cut.snt: after record 1: the stream ends inside track 'b' (chunk 1 and its last=1 never came: was the command before it stopped?)"
	run snt-cmp -t 0 ref/a.wav out/a.wav
	assert_success
	[ ! -e out/b.wav ]
	run sh -c 'sepnet-fwd -m fresh.safetensors cut.snt > /dev/null'
	assert_failure 1
	assert_output --partial "sepnet-fwd: cut.snt: after record 1: the stream ends inside track 'b'"
	# a chunk cut short inside its payload
	stft -c "$TINY" --chunk 0.5 in.wav | head -c 1000000 > short.snt
	run sh -c 'istft short.snt > /dev/null'
	assert_failure 1
	assert_output --regexp '^istft: short.snt: record 1 at byte 1000000: '
}

@test "istft reads a chunk's rows through a block, naming a NaN's value in the whole chunk" {
	# 4096-point frames: the last chunk is 2 × 2049 × 87 complex values,
	# 2.9 MB, read in blocks of 1506 rows (about 1 MiB); the NaN is its
	# last value, in its third block
	stft -c "$ROOT/configs/base.ini" --chunk 2.3 in.wav > big.snt
	run snt-info big.snt
	assert_line --index 1 --partial $'c64\t[2,2049,87]'
	cp big.snt nan.snt
	printf '\x00\x00\xc0\x7f' | dd of=nan.snt bs=1 seek=$(($(stat -c %s nan.snt) - 4)) conv=notrunc 2> /dev/null
	run --separate-stderr istft nan.snt
	assert_failure 1
	assert_equal "$stderr" "istft: nan.snt: record 1: NaN or infinity at value $((2 * 2049 * 87 * 2 - 1)) (the input must be finite)"
	istft big.snt > /dev/null
}
