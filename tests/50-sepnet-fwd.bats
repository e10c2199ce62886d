#!/usr/bin/env bats
# sepnet-fwd at the command line: --init and --info, the untrained model's
# equal split through stft | sepnet-fwd | istft, stem selection, keys passing
# through, chunking options, and the error paths.

load helper

setup() {
	require stft istft snt-info snt-cmp sepnet-fwd sox
	cd "$BATS_TEST_TMPDIR"
	TINY=$ROOT/configs/tiny.ini
	sepnet-fwd --init -c "$TINY" -o fresh.safetensors
}

@test "--init writes a model, --info prints its parameter count and config" {
	run sepnet-fwd --info -m fresh.safetensors
	assert_success
	assert_line --index 0 'parameters 185424'
	assert_line --index 1 'stored F32'
	assert_line '[model]'
	assert_line 'n_fft = 512'
}

@test "--init is deterministic for a seed and differs between seeds" {
	sepnet-fwd --init -c "$TINY" -o a.safetensors --seed 5
	sepnet-fwd --init -c "$TINY" -o b.safetensors --seed 5
	sepnet-fwd --init -c "$TINY" -o c.safetensors --seed 6
	cmp a.safetensors b.safetensors
	! cmp -s a.safetensors c.safetensors
}

@test "untrained model: stft | sepnet-fwd | istft, summed over stems, is the input" {
	make_wav in.wav 2.5
	mkdir out
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors | istft -b 32f -o 'out/%s.wav'
	# the four stems plus the inverted input: silence up to f32 rounding
	run bash -c "sox -m -v 1 out/drums.wav -v 1 out/bass.wav -v 1 out/other.wav \
		-v 1 out/vocals.wav -v -1 in.wav -n stats 2>&1 | awk '/Pk lev dB/ { print \$4 }'"
	assert_success
	awk -v db="$output" 'BEGIN { exit !(db < -100) }' || fail "residual peak $output dB"
}

@test "output: c64 [S, C, F, T] with sources=, every input key kept" {
	make_wav in.wav 1.2
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors > s.snt
	run snt-info s.snt
	assert_output --regexp $'^0\t-\tc64\t\\[4,2,257,414\\]\tsr=44100 track=in file=in.wav n_fft=512 hop=128 window=hann center=1 length=52920 sources=drums,bass,other,vocals\t'
}

@test "-s selects stems in the order given" {
	make_wav in.wav 0.5
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors -s vocals,drums > s.snt
	run snt-info s.snt
	assert_output --partial $'[2,2,257,173]'
	assert_output --partial 'sources=vocals,drums'
}

@test "--batch and --overlap: same stems, several records, files and stdin" {
	make_wav a.wav 3.1
	make_wav b.wav 0.3
	stft -c "$TINY" a.wav b.wav > mix.snt
	sepnet-fwd -m fresh.safetensors mix.snt > one.snt
	sepnet-fwd -m fresh.safetensors --batch 3 --overlap 0.5 < mix.snt > three.snt
	# a fresh model's mask is the same constant in every segment: equal up
	# to the rounding of the cross-fade weights' sum
	[ "$(snt-info one.snt | wc -l)" -eq 2 ]
	istft one.snt > one.wav.snt
	istft three.snt > three.wav.snt
	run snt-cmp -t 1e-6 one.wav.snt three.wav.snt
	assert_success
}

@test "refuses a spectrogram of another n_fft or hop, and other dtypes" {
	make_wav in.wav 0.5
	stft -n 1024 -H 128 in.wav > s.snt
	run --separate-stderr sepnet-fwd -m fresh.safetensors s.snt
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sepnet-fwd: s.snt: record 0: n_fft=1024, but the model was trained with n_fft=512: make the spectrogram with stft -m fresh.safetensors (it takes the model's STFT and resamples)"
	stft -n 512 -H 256 in.wav > h.snt
	run --separate-stderr sepnet-fwd -m fresh.safetensors h.snt
	assert_failure 1
	[[ "$stderr" == *"hop=256, but the model was trained with hop=128"* ]]
	record SNT1 $'dtype=s16\nshape=2,4000' 16000 > s16.snt
	run --separate-stderr sepnet-fwd -m fresh.safetensors s16.snt
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sepnet-fwd: s16.snt: record 0: expected a c64 [C, F, T] spectrogram or an f32 [C, N] waveform, got s16"
}

@test "a mono spectrogram is separated as its stereo duplicate; another rate names stft -m" {
	make_wav mono.wav 0.5 44100 1
	sox mono.wav -c 2 dup.wav
	stft -n 512 -H 128 mono.wav | sepnet-fwd -m fresh.safetensors | istft > m.snt
	stft -n 512 -H 128 dup.wav | sepnet-fwd -m fresh.safetensors | istft > d.snt
	snt-cmp -t 1e-6 d.snt m.snt
	make_wav r48.wav 0.5 48000
	run --separate-stderr bash -c "stft -n 512 -H 128 r48.wav | sepnet-fwd -m fresh.safetensors"
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sepnet-fwd: <stdin>: record 0: sr=48000, but the model was trained with sr=44100: make the spectrogram with stft -m fresh.safetensors (it takes the model's STFT and resamples)"
}

@test "a missing, truncated or foreign model file is an error naming it" {
	make_wav in.wav 0.5
	stft -c "$TINY" in.wav > s.snt
	run --separate-stderr sepnet-fwd -m nosuch.safetensors s.snt
	assert_failure 1
	assert_equal "$output" ""
	[[ "$stderr" == "sepnet-fwd: "*"nosuch.safetensors"* ]]
	head -c 5000 fresh.safetensors > cut.safetensors
	run --separate-stderr sepnet-fwd -m cut.safetensors s.snt
	assert_failure 1
	assert_equal "$output" ""
	[[ "$stderr" == "sepnet-fwd: "*"cut.safetensors"* ]]
	cp s.snt notamodel.safetensors
	run --separate-stderr sepnet-fwd -m notamodel.safetensors s.snt
	assert_failure 1
	[[ "$stderr" == "sepnet-fwd: "*"notamodel.safetensors"* ]]
}

@test "--wiener: the same stems from a whole record, stft --chunk and an audio file; not those of 0" {
	make-dataset --seed 7 --train 0 --test 1 --seconds 8 ds > /dev/null
	mv ds/test/*/mixture.wav song.wav
	stft -m demo song.wav | sepnet-fwd -m demo --wiener 2 | istft -o 'whole/%s.wav'
	stft -m demo --chunk 1.5 song.wav | sepnet-fwd -m demo --wiener 2 | istft -o 'chunk/%s.wav'
	sepnet-fwd -m demo --wiener 2 song.wav -o 'file/%s.wav'
	sepnet-fwd -m demo song.wav -o 'plain/%s.wav'
	for s in drums bass other vocals; do
		# blocks of 1200 frames from the first, whatever the pieces: the
		# same stems to the rounding of the cross-fade's sums
		snt-cmp -t 1e-4 whole/$s.wav chunk/$s.wav
		snt-cmp -t 1e-4 whole/$s.wav file/$s.wav
		run snt-cmp -t 1e-3 plain/$s.wav whole/$s.wav
		assert_failure
	done
	run sepnet-fwd --info -m demo --wiener 1
	assert_line --index 2 --regexp '^latency 7\.993 s \(segment 1\.004 s, Wiener block 6\.966 s, '
}

@test "usage errors exit 2" {
	run --separate-stderr sepnet-fwd
	assert_failure 2
	run --separate-stderr sepnet-fwd -m fresh.safetensors -s guitar
	assert_failure 2
	assert_equal "$stderr" "sepnet-fwd: -s: the model has no stem 'guitar' (it has drums,bass,other,vocals, and instrumental: all but vocals)"
	run --separate-stderr sepnet-fwd -m fresh.safetensors --overlap 1
	assert_failure 2
	run --separate-stderr sepnet-fwd -m fresh.safetensors --batch 0
	assert_failure 2
	run --separate-stderr sepnet-fwd -m fresh.safetensors -d tpu
	assert_failure 2
	for n in -1 101 x 1.5; do
		run --separate-stderr sepnet-fwd -m fresh.safetensors --wiener "$n"
		assert_failure 2
		assert_equal "$stderr" "sepnet-fwd: --wiener: iterations from 0 to 100, not '$n'"
	done
	run --separate-stderr sepnet-fwd --init -c "$TINY"
	assert_failure 2
	run sepnet-fwd -h
	assert_success
	assert_output --partial 'usage: sepnet-fwd -m MODEL'
	run sepnet-fwd --version
	assert_output "sepnet-fwd 0.1.0"
}

@test "refuses to write to a terminal" {
	require script
	make_wav in.wav 0.3
	stft -c "$TINY" in.wav > s.snt
	run script -qec "sepnet-fwd -m fresh.safetensors s.snt" /dev/null
	assert_failure
}
