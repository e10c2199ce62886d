#!/usr/bin/env bats
# Any ordinary audio file (resampled with libsoxr, channels mapped, stems
# back at the input's rate and length), MUSDB-layout folders with %t, %d
# and %b, output collisions found before any work, names of shipped
# configs and models.

load helper
bats_require_minimum_version 1.5.0

MODEL=$ROOT/models/demo.safetensors

setup_file() {
	require sox soxi stft istft sepnet-fwd snt-cmp make-dataset
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# rate_length FILE: "RATE LENGTH" of an audio file as libsndfile decodes
# it (sox has no MP3 reader here)
rate_length() {
	stft -n 16 -H 4 "$1" | snt-info | sed 's/.*sr=\([0-9]*\).* length=\([0-9]*\).*/\1 \2/'
}

# stems_like INPUT DIR: four stereo stems in DIR at INPUT's rate and length
stems_like() {
	local s want
	want=$(rate_length "$1")
	for s in drums bass other vocals; do
		[ "$(rate_length "$2/$s.wav")" = "$want" ] || fail "$2/$s.wav: $(rate_length "$2/$s.wav"), not $want"
		[ "$(soxi -c "$2/$s.wav")" = 2 ]
	done
}

@test "mono 48 kHz, 22.05 kHz 24-bit, FLAC and MP3 give stems of the input's rate and length" {
	make_wav m48.wav 1.3 48000 1
	sox -r 22050 -c 2 -n -b 24 s22.wav synth 1.1 sine 300 sine 900 gain -6
	sox -r 44100 -c 2 -n s44.flac synth 1.2 sine 200 sine 700 gain -6
	stft s44.flac | istft -o mp3.mp3	# libsndfile writes MP3 too
	for f in m48.wav s22.wav s44.flac mp3.mp3; do
		run --separate-stderr sepnet-fwd -m "$MODEL" -o "out/%b/%s.wav" "$f"
		assert_success
		assert_equal "$stderr" ""
		stems_like "$f" "out/${f%.*}"
	done
	# the pipeline with stft -m: the same stems
	stft -m "$MODEL" m48.wav | sepnet-fwd -m "$MODEL" | istft -o 'p/%s.wav'
	stems_like m48.wav p
	snt-cmp -t 1e-5 out/m48/vocals.wav p/vocals.wav
}

@test "a resampled round trip (48 kHz -> 44.1 kHz STFT -> 48 kHz) returns the input" {
	sox -r 48000 -c 2 -n -b 32 -e floating-point x.wav synth 1 sine 440 sine 3000 gain -6 fade 0.05 1 0.05
	stft -m "$MODEL" x.wav > s.snt
	run snt-info s.snt
	assert_output --regexp 'sr=44100 track=x file=x.wav orig_sr=48000 orig_length=48000 '
	istft -o back.wav s.snt
	[ "$(soxi -r back.wav)" = 48000 ] && [ "$(soxi -s back.wav)" = 48000 ]
	# VHQ both ways: the tones come back to within 1e-5 (measured 3e-6)
	run snt-cmp -t 1e-5 x.wav back.wav
	assert_success
	# -r resamples the output instead of relabelling it
	istft -o r.wav -r 16000 s.snt
	[ "$(soxi -r r.wav)" = 16000 ] && [ "$(soxi -s r.wav)" = 16000 ]
}

@test "more than two channels are downmixed with one notice" {
	sox -r 44100 -c 6 -n c6.wav synth 1 sine 300 gain -12
	run --separate-stderr sepnet-fwd -m "$MODEL" -o 'o/%s.wav' c6.wav
	assert_success
	assert_equal "$stderr" "sepnet-fwd: c6.wav: 6 channels downmixed to stereo (5.1: ITU-R BS.775, LFE dropped)"
	stems_like c6.wav o
}

@test "a MUSDB-layout folder: %t is the song's folder; collisions fail before any work" {
	make-dataset --seed 5 --train 0 --test 2 --seconds 2 mus > /dev/null
	run --separate-stderr sepnet-fwd -m "$MODEL" -o 'est/%t/%s.wav' mus/test/*/mixture.wav
	assert_success
	for d in mus/test/*/; do
		t=$(basename "$d")
		stems_like "$d/mixture.wav" "est/$t"
	done
	sepnet-fwd -m "$MODEL" -o 'est2/%d-%b/%s.wav' mus/test/*/mixture.wav
	[ "$(ls est2 | wc -l)" -eq 2 ]
	ls est2 | grep -qx "$(basename "$(ls -d mus/test/*/ | head -1)")-mixture"
	run --separate-stderr sepnet-fwd -m "$MODEL" -o 'bad/%b/%s.wav' mus/test/*/mixture.wav
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == *"bad/mixture/drums.wav is also the output of mus/test/"*"(make the names differ with %t, %d, %b or %i)" ]]
	[ ! -e bad ]
}

@test "-c NAME and -m NAME find the shipped configs and models from any folder" {
	make_wav a.wav 0.5
	stft -c demo a.wav > named.snt
	stft -c "$ROOT/configs/demo.ini" a.wav > path.snt
	cmp named.snt path.snt
	stft -m demo a.wav | cmp - named.snt
	sepnet-fwd -m demo -o 'o/%s.wav' a.wav
	stems_like a.wav o
	run --separate-stderr sepnet-fwd -m nosuchmodel a.wav
	assert_failure 1
	[[ $stderr == "sepnet-fwd: nosuchmodel: no such file, and no nosuchmodel.safetensors in "*"(give a path, or set SEPNET_DATA)" ]]
	mkdir -p share/configs && cp "$ROOT/configs/tiny.ini" share/configs/mine.ini
	SEPNET_DATA=$PWD/share stft -c mine a.wav | snt-info | grep -q 'n_fft=512'
}

@test "-s instrumental is every stem but vocals, summed; a progress line only on a terminal" {
	make_wav a.wav 2
	sepnet-fwd -m "$MODEL" -s vocals,instrumental a.wav > k.snt
	run snt-info k.snt
	assert_output --partial 'sources=vocals,instrumental'
	sepnet-fwd -m "$MODEL" -s instrumental -o 'i/%s.wav' a.wav
	# the sum of the three stems, through their audio files
	sepnet-fwd -m "$MODEL" -o 's/%s.wav' a.wav
	sox -m -v 1 s/drums.wav -v 1 s/bass.wav -v 1 s/other.wav -b 32 -e floating-point sum.wav 2> /dev/null
	snt-cmp -t 1e-5 sum.wav i/instrumental.wav
	run --separate-stderr sepnet-fwd -m "$MODEL" -s guitar a.wav
	assert_failure 2
	assert_equal "$stderr" "sepnet-fwd: -s: the model has no stem 'guitar' (it has drums,bass,other,vocals, and instrumental: all but vocals)"
	# progress: redrawn in place on a terminal, silent in a pipe and with -q
	require script
	script -qec "sepnet-fwd -m '$MODEL' -o 'p/%s.wav' a.wav" /dev/null > typescript
	grep -q $'\rsepnet-fwd: [0-9.]* of 2.0 s of audio, [0-9.]*x realtime, ETA [0-9:]*\e\[K' typescript
	grep -q $'\rsepnet-fwd: 2.0 s of audio, [0-9.]*x realtime in [0-9.]* s\e\[K' typescript
	script -qec "sepnet-fwd -q -m '$MODEL' -o 'p/%s.wav' a.wav" /dev/null > quiet
	[ ! -s quiet ]
	run --separate-stderr sepnet-fwd -m "$MODEL" -o 'p/%s.wav' a.wav
	assert_equal "$stderr" ""
}

@test "stft and istft: a progress line on a terminal for work of over a second; -q and short work silent" {
	require script
	sox -r 44100 -c 2 -b 16 -n long.wav synth 240 sine 300 gain -12
	# work of a few seconds on any machine: 240 s at the default n_fft took
	# 0.4 s on 2 cores, too close to the 1 s before a line is drawn
	printf '[model]\nn_fft = 16384\nhop_length = 512\n' > slow.ini
	script -qec "stft -c slow.ini long.wav > /dev/null" /dev/null > typescript
	grep -q $'\rstft: [0-9.]* of 240.0 s of audio, [0-9.]*x realtime, ETA [0-9:]*\e\[K' typescript
	grep -q $'\rstft: 240.0 s of audio, [0-9.]*x realtime in [0-9.]* s\e\[K' typescript
	script -qec "stft -q -c slow.ini long.wav > /dev/null" /dev/null > quiet
	[ ! -s quiet ]
	make_wav short.wav 1
	script -qec "stft short.wav | istft > /dev/null" /dev/null > short
	[ ! -s short ]
}
