#!/usr/bin/env bats
# stft and istft at the command line: shapes and keys, round trips through
# pipes, files and formats, keys passing through, audio output with -o, and
# their error paths.

load helper

setup() {
	require stft istft snt-info snt-cmp sox soxi
	cd "$BATS_TEST_TMPDIR"
}

@test "stft: c64 [C, F, T] with n_fft, hop, window, center, length and sr" {
	make_wav a.wav 1
	stft -n 4096 -H 1024 a.wav > s.snt
	run snt-info s.snt
	assert_output --regexp $'^0\t-\tc64\t\\[2,2049,44\\]\tsr=44100 track=a file=a.wav n_fft=4096 hop=1024 window=hann center=1 length=44100\t'
}

@test "stft defaults to 4096/1024 and -c takes n_fft and hop from a config" {
	make_wav a.wav 0.5
	run bash -c "stft a.wav | snt-info"
	assert_output --partial 'n_fft=4096 hop=1024'
	run bash -c "stft -c '$ROOT/configs/tiny.ini' a.wav | snt-info"
	assert_output --partial '[2,257,173]'
	assert_output --partial 'n_fft=512 hop=128'
}

@test "stft | istft reconstructs stereo and mono within 1e-5 at every config's n_fft/hop" {
	make_wav st.wav 1.3
	make_wav mono.wav 0.7 44100 1
	for nh in "512 128" "2048 512" "4096 1024"; do
		set -- $nh
		for f in st.wav mono.wav; do
			stft -n $1 -H $2 $f | istft > y.snt
			run snt-cmp -t 1e-5 $f y.snt
			assert_success
		done
	done
}

@test "odd lengths, lengths shorter than n_fft, several records in one stream" {
	for n in 300 511 1000 4097; do
		sox -r 8000 -c 2 -n -b 32 -e floating-point a$n.wav synth ${n}s sine 300 sine 500
	done
	stft -n 512 -H 128 a300.wav a511.wav a1000.wav a4097.wav > s.snt
	[ "$(snt-info s.snt | wc -l)" -eq 4 ]
	istft s.snt > y.snt
	run snt-info y.snt
	assert_line --index 0 --partial $'[2,300]'
	assert_line --index 3 --partial $'[2,4097]'
}

@test "a WAV from a pipe and a FLAC file" {
	make_wav a.wav 0.6
	sox a.wav -b 24 a.flac
	cat a.wav | stft -n 1024 -H 256 | istft > y.snt
	run snt-cmp -t 1e-5 a.wav y.snt
	assert_success
	stft -n 1024 -H 256 a.flac | istft > y.snt
	run snt-cmp -t 1e-5 a.flac y.snt
	assert_success
}

@test "unknown keys pass through stft | istft untouched and in order" {
	waveform_record $'dtype=f32\nshape=2,2,1000\nsources=a,b\nfoo=bar baz\nsr=8000\nzzz=1\n' 4000 > w.snt
	stft -n 256 -H 64 w.snt | istft > y.snt
	run snt-info y.snt
	assert_output --regexp $'\tf32\t\\[2,2,1000\\]\tsources=a,b foo=bar baz sr=8000 zzz=1 length=1000\t'
	run snt-cmp -t 1e-5 w.snt y.snt
	assert_success
}

@test "istft -o writes one file per source, named from sources, track and index" {
	waveform_record $'dtype=f32\nshape=2,2,4000\nsources=drums,vocals\ntrack=Song\nsr=8000\n' 16000 > w.snt
	stft -n 256 -H 64 w.snt | istft -o 'out/%t/%s-%i.wav'
	[ -f out/Song/drums-0.wav ] && [ -f out/Song/vocals-0.wav ]
	[ "$(soxi -r out/Song/drums-0.wav)" = 8000 ] && [ "$(soxi -c out/Song/vocals-0.wav)" = 2 ]
	[ "$(soxi -s out/Song/drums-0.wav)" = 4000 ]
	[ "$(soxi -t out/Song/drums-0.wav)" = wav ]
	! ls out/Song/*.tmp.* 2>/dev/null
}

@test "istft -b chooses 16-bit, 24-bit or float; FLAC defaults to 24-bit" {
	make_wav a.wav 0.3
	stft a.wav > s.snt
	for b in 16 24; do
		istft -o "x$b.wav" -b $b s.snt
		[ "$(soxi -b x$b.wav)" = $b ]
	done
	istft -o x.wav s.snt
	[ "$(soxi -e x.wav)" = "Floating Point PCM" ]
	istft -o x.flac s.snt
	[ "$(soxi -b x.flac)" = 24 ]
	run snt-cmp -t 1e-4 a.wav x24.wav
	assert_success
}

@test "istft -o refuses to map two outputs to one file, and a pattern without %s" {
	make_wav a.wav 0.3
	stft a.wav a.wav > s.snt
	run --separate-stderr istft -o same.wav s.snt
	assert_failure 1
	[[ $stderr == *"same.wav is also the output of "* ]]
	waveform_record $'dtype=f32\nshape=2,1,2000\nsources=a,b\nsr=8000\n' 4000 > w.snt
	stft -n 256 -H 64 w.snt > s2.snt
	run --separate-stderr istft -o one.wav s2.snt
	assert_failure 1
	[[ $stderr == *"2 sources but -o one.wav has no %s"* ]]
	[ ! -e one.wav ]
}

@test "istft -o: unknown extension and missing sample rate are errors; nothing is left behind" {
	waveform_record $'dtype=f32\nshape=1,2000\n' 2000 > w.snt
	stft -n 256 -H 64 w.snt > s.snt
	run --separate-stderr istft -o out.xyz -r 8000 s.snt
	assert_failure 1
	[[ $stderr == "istft: out.xyz: unknown audio file extension"* ]]
	run --separate-stderr istft -o out.wav s.snt
	assert_failure 1
	[[ $stderr == *"no sr key: give the sample rate with -r" ]]
	istft -o out.wav -r 8000 s.snt
	[ "$(soxi -r out.wav)" = 8000 ]
	[ -z "$(ls | grep tmp)" ]
}

@test "stft refuses a spectrogram and a too-short signal; istft refuses a waveform" {
	make_wav a.wav 0.2
	stft a.wav > s.snt
	run --separate-stderr stft s.snt
	assert_failure 1
	assert_output ''
	[[ $stderr == "stft: s.snt: record 0 at byte 0: expected a waveform (f32), got c64" ]]
	sox -r 8000 -c 1 -n short.wav synth 200s sine 300
	run --separate-stderr stft -n 512 -H 128 short.wav
	assert_failure 1
	[[ $stderr == *"200 samples are too few for n_fft 512"* ]]
	stft s.snt 2>/dev/null | true
	istft s.snt > w.snt
	run --separate-stderr istft w.snt
	assert_failure 1
	[[ $stderr == *"expected a spectrogram c64"* ]]
}

@test "bad options: hop larger than n_fft, odd n_fft, bad -b" {
	run --separate-stderr stft -n 256 -H 512 /dev/null
	assert_failure 2
	run --separate-stderr stft -n 255 /dev/null
	assert_failure 2
	run --separate-stderr istft -b 12 -o x.wav
	assert_failure 2
	[[ $stderr == *"-b: sample format must be 16, 24 or 32f"* ]]
	run --separate-stderr istft -o 'out/%q.wav' < /dev/null
	assert_failure 2
	[[ $stderr == *"unknown conversion %q"* ]]
	run --separate-stderr istft -b 16
	assert_failure 2
	[[ $stderr == *"-b and -r apply to audio files: give -o PATTERN too"* ]]
}

@test "the README's round trip: stft < song.wav | istft -o" {
	make_wav song.wav 1
	stft < song.wav | istft -o 'out/%s.wav'
	run snt-cmp -t 1e-5 song.wav out/out.wav
	assert_success
}
