#!/usr/bin/env bats
# sepnet-fwd's waveform mode (audio files and f32 [C, N] records in,
# f32 [S, C, N] or audio files with -o out) against the pipeline
# stft | sepnet-fwd | istft, -o naming, and the -d choice of device.

load helper

setup() {
	require stft istft snt-info snt-cmp sepnet-fwd sox soxi
	cd "$BATS_TEST_TMPDIR"
	TINY=$ROOT/configs/tiny.ini
	sepnet-fwd --init -c "$TINY" -o fresh.safetensors
}


@test "waveform mode equals stft | sepnet-fwd | istft (audio file)" {
	make_wav in.wav 2.5
	sepnet-fwd -m fresh.safetensors in.wav > wave.snt
	stft -c "$TINY" in.wav | sepnet-fwd -m fresh.safetensors | istft > pipe.snt
	run snt-info wave.snt
	assert_output --regexp $'^0\t-\tf32\t\\[4,2,110250\\]\tsr=44100 track=in file=in.wav length=110250 sources=drums,bass,other,vocals\t'
	run snt-cmp -t 1e-5 pipe.snt wave.snt
	assert_success
}

@test "waveform mode on f32 [C, N] records from a stream, several records, stdin" {
	make_wav a.wav 1.7
	make_wav b.wav 0.4
	stft -c "$TINY" a.wav b.wav | istft > mix.snt
	sepnet-fwd -m fresh.safetensors -s vocals,bass --batch 2 < mix.snt > wave.snt
	stft -c "$TINY" mix.snt | sepnet-fwd -m fresh.safetensors -s vocals,bass --batch 2 | istft > pipe.snt
	[ "$(snt-info wave.snt | wc -l)" -eq 2 ]
	run snt-info wave.snt
	assert_line --index 1 --partial $'[2,2,17640]'
	assert_line --index 1 --partial 'sources=vocals,bass'
	run snt-cmp -t 1e-5 pipe.snt wave.snt
	assert_success
}

@test "an audio file on stdin is separated like the named file" {
	make_wav in.wav 0.6
	sepnet-fwd -m fresh.safetensors < in.wav > a.snt
	sepnet-fwd -m fresh.safetensors in.wav > b.snt
	run snt-cmp -t 0 a.snt b.snt
	assert_success
}

@test "untrained model: the four stems of an audio file sum to it" {
	make_wav in.wav 2.5
	sepnet-fwd -m fresh.safetensors -o 'out/%s.wav' in.wav
	run bash -c "sox -m -v 1 out/drums.wav -v 1 out/bass.wav -v 1 out/other.wav \
		-v 1 out/vocals.wav -v -1 in.wav -n stats 2>&1 | awk '/Pk lev dB/ { print \$4 }'"
	assert_success
	awk -v db="$output" 'BEGIN { exit !(db < -100) }' || fail "residual peak $output dB"
}

@test "-o names files by track and stem, -s and -b apply, stdout stays empty" {
	make_wav song1.wav 0.5
	make_wav song2.wav 0.5
	run --separate-stderr sepnet-fwd -m fresh.safetensors -s vocals,drums -b 16 \
		-o 'out/%t/%s.flac' song1.wav song2.wav
	assert_success
	assert_equal "$output" ""
	run find out -type f
	assert_equal "$(sort <<<"$output" | tr '\n' ' ')" \
		"out/song1/drums.flac out/song1/vocals.flac out/song2/drums.flac out/song2/vocals.flac "
	[ "$(soxi -b out/song1/vocals.flac)" = 16 ]
	[ "$(soxi -s out/song2/drums.flac)" = 22050 ]
}

@test "spectrogram input with -o writes what istft -o writes" {
	make_wav in.wav 1.1
	stft -c "$TINY" in.wav > s.snt
	sepnet-fwd -m fresh.safetensors -o 'a/%t-%s.wav' s.snt
	sepnet-fwd -m fresh.safetensors s.snt | istft -o 'b/%t-%s.wav'
	for s in drums bass other vocals; do
		run snt-cmp -t 1e-6 "a/in-$s.wav" "b/in-$s.wav"
		assert_success
	done
}

@test "waveform errors: too short, -b without -o, unknown conversion" {
	sox -r 44100 -c 2 -n short.wav synth 100s sine 300
	run --separate-stderr sepnet-fwd -m fresh.safetensors short.wav
	assert_failure 1
	[[ "$stderr" == *"short.wav: 100 samples are too few for n_fft 512"* ]]
	make_wav r22.wav 0.5 22050
	run --separate-stderr sepnet-fwd -m fresh.safetensors -b 16 r22.wav
	assert_failure 2
	run --separate-stderr sepnet-fwd -m fresh.safetensors -o 'out/%q.wav' r22.wav
	assert_failure 2
	[[ "$stderr" == *"unknown conversion %q"* ]]
}

@test "-o streams an audio file (blocks, resampling, segments cut anywhere): the pipeline's files bit for bit" {
	# 4.3 s: several 65536-frame blocks, segments and iSTFT pieces
	sox -R -n -r 48000 -c 1 -b 16 m48.wav synth 4.3 pinknoise vol 0.5
	sox -R -n -r 44100 -c 2 -b 16 s44.wav synth 4.3 pinknoise vol 0.5
	for f in m48 s44; do
		sepnet-fwd -m fresh.safetensors -o "s/$f/%s.wav" $f.wav
		stft -m fresh.safetensors $f.wav | sepnet-fwd -m fresh.safetensors | istft -o "p/$f/%s.wav"
		for s in drums bass other vocals; do
			run snt-cmp -t 0 p/$f/$s.wav s/$f/$s.wav
			assert_success
		done
	done
	[ "$(soxi -r s/m48/vocals.wav)" = 48000 ] && [ "$(soxi -s s/m48/vocals.wav)" = 206400 ]
	# from stdin, the instrumental among the stems
	sepnet-fwd -m fresh.safetensors -s instrumental,bass -o 'i/%s.wav' < m48.wav
	stft -m fresh.safetensors m48.wav | sepnet-fwd -m fresh.safetensors -s instrumental,bass |
		istft -o 'pi/%s.wav'
	run snt-cmp -t 0 pi/instrumental.wav i/instrumental.wav
	assert_success
}

@test "-o streaming: a NaN late in the file fails naming the sample, and leaves no stem file" {
	sox -r 44100 -c 2 -n -t f32 raw.f32 synth 3 sine 300 gain -6
	printf '\x00\x00\xc0\x7f' | dd of=raw.f32 bs=1 seek=$((4 * 2 * 100000)) conv=notrunc 2> /dev/null
	le() { local i; for ((i = 0; i < $2; i++)); do printf "\\x$(printf %02x $(($1 >> 8 * i & 255)))"; done; }
	n=$(stat -c %s raw.f32)
	{	# a float WAV header by hand (sox would not keep the NaN)
		printf RIFF; le $((36 + n)) 4; printf 'WAVEfmt '; le 16 4; le 3 2; le 2 2
		le 44100 4; le $((44100 * 8)) 4; le 8 2; le 32 2; printf data; le "$n" 4; cat raw.f32
	} > nan.wav
	run --separate-stderr sepnet-fwd -m fresh.safetensors -o 'out/%s.wav' nan.wav
	assert_failure 1
	assert_equal "$stderr" "sepnet-fwd: nan.wav: NaN or infinity at sample 100000 of channel 1 (the input must be finite)"
	[ -z "$(ls -A out 2> /dev/null)" ]
}

@test "live: raw PCM and a WAV stream on stdin, one stem as a WAV stream on stdout" {
	sox -R -n -r 44100 -c 2 -b 16 s.wav synth 3.2 pinknoise vol 0.5
	sepnet-fwd -m fresh.safetensors --segment 0.5 -s vocals -o 'f/%s.wav' s.wav
	# raw samples as sox -t raw writes them; the length is open: the
	# separator divides by the cross-fade's sums (float rounding)
	sox s.wav -t raw - | sepnet-fwd -m fresh.safetensors -t raw -r 44100 -c 2 --segment 0.5 \
		-s vocals -o - > raw.wav
	sox -t wav raw.wav r.wav 2> /dev/null	# the stream's header leaves the length open
	[ "$(soxi -s r.wav)" = 141120 ]
	run snt-cmp -t 1e-5 f/vocals.wav r.wav
	assert_success
	# a WAV from a pipe (sox writes it without a length), 24-bit out
	sox s.wav -t wav - | sepnet-fwd -m fresh.safetensors --segment 0.5 -s vocals -b 24 -o - |
		sox -t wav - w.wav 2> /dev/null
	[ "$(soxi -b w.wav)" = 24 ]
	run snt-cmp -t 1e-4 f/vocals.wav w.wav
	assert_success
	# every sample comes out, the input paced as a sound card delivers it
	run live-latency 44100 2 sepnet-fwd -m fresh.safetensors -q -t f32 -r 44100 -c 1 \
		--segment 0.3 -s vocals -o -
	assert_success
	assert_output --regexp 'samples out of 88200$'
	assert_output --partial ' 88200 samples out'
	# --info: the worst case before compute
	run sepnet-fwd --info -m fresh.safetensors --segment 0.5
	assert_line --index 2 'latency 0.511 s (segment 0.499 s, n_fft 0.012 s; plus a segment'"'"'s compute)'
}

@test "live: usage errors name the fix" {
	run --separate-stderr sepnet-fwd -m fresh.safetensors -t raw -o -
	assert_failure 2
	[[ "$stderr" == *"-t: raw input needs -r RATE and -c CHANNELS"* ]]
	run --separate-stderr sepnet-fwd -m fresh.safetensors -t s24 -r 44100 -c 2
	assert_failure 2
	[[ "$stderr" == *"give -o PATTERN (- for standard output)"* ]]
	run --separate-stderr sepnet-fwd -m fresh.safetensors -t x -r 44100 -c 2 -o -
	assert_failure 2
	make_wav s.wav 0.5
	run --separate-stderr sh -c 'sepnet-fwd -m fresh.safetensors -o - < s.wav > o.wav'
	assert_failure 1
	[[ "$stderr" == *"-o - streams one stem to standard output, not 4: name it with -s"* ]]
	run --separate-stderr sepnet-fwd -m fresh.safetensors --segment 30 -s bass -o 'x/%s.wav' s.wav
	assert_failure 1
	[[ "$stderr" == *"--segment 30: the model's segments are"* ]]
	# a raw stream cut inside a frame
	run --separate-stderr sh -c "printf abc | sepnet-fwd -m fresh.safetensors -t s16 -r 8000 -c 2 -s bass -o 'y/%s.wav'"
	assert_failure 1
	[[ "$stderr" == *"<stdin>: the stream ends inside a frame (3 of its 4 bytes)"* ]]
	[ ! -e y/bass.wav ]
}

@test "-d cpu is the default's twin; -d cuda runs or says why it cannot" {
	make_wav in.wav 0.5
	sepnet-fwd -m fresh.safetensors -d cpu in.wav > cpu.snt
	sepnet-fwd -m fresh.safetensors in.wav > default.snt
	if sepnet-fwd -m fresh.safetensors -d cuda in.wav > cuda.snt 2> err; then
		# a GPU is here: tiny.ini computes in f32 (tolerance of f32 FFTs and sums)
		run snt-cmp -t 1e-5 cpu.snt cuda.snt
		assert_success
	else
		run cat err
		assert_output --regexp '^sepnet-fwd: -d cuda: (this binary was built without CUDA|no CUDA device found)'
		[ ! -s cuda.snt ]
		cmp cpu.snt default.snt	# no GPU: the default is the cpu, silently
	fi
	run --separate-stderr sepnet-fwd -m fresh.safetensors -d tpu in.wav
	assert_failure 2
	assert_equal "$stderr" "sepnet-fwd: -d tpu: the devices are cpu and cuda"
}

@test "stft and istft take -d too" {
	make_wav in.wav 0.5
	stft -d cpu -c "$TINY" in.wav > a.snt
	stft -c "$TINY" in.wav > b.snt	# the default: cuda where a GPU is present
	istft -d cpu a.snt > wa.snt
	istft b.snt > wb.snt
	run snt-cmp -t 1e-5 wa.snt wb.snt
	assert_success
	for tool in stft istft; do
		run --separate-stderr "$tool" -d gpu a.snt
		assert_failure 2
		assert_equal "$stderr" "$tool: -d gpu: the devices are cpu and cuda"
	done
	if ! stft -d cuda -c "$TINY" in.wav > c.snt 2> err; then
		run cat err
		assert_output --regexp '^stft: -d cuda: (this binary was built without CUDA|no CUDA device found)'
	else	# a GPU: cuFFT against FFTW, f32 rounding
		istft -d cuda c.snt > wc.snt
		run snt-cmp -t 1e-5 wa.snt wc.snt
		assert_success
	fi
}

@test "check-ops' helpers for tests/gpu/check.sh: noise, random model, compare" {
	require check-ops
	check-ops --noise 0.5 1 > n.snt
	run snt-info n.snt
	assert_output --partial $'f32\t[2,22050]\tsr=44100 track=noise'
	check-ops --random-model "$TINY" r.safetensors 3
	sepnet-fwd -d cpu -m r.safetensors n.snt > a.snt
	sepnet-fwd -d cpu -m fresh.safetensors n.snt > b.snt
	run check-ops --compare 1e-5 a.snt a.snt
	assert_success
	assert_output 'record 0: relative L2 error 0.000e+00, 0 NaN/Inf (tolerance 1e-05)'
	# every weight random: far from the fresh model's equal split
	run check-ops --compare 1e-2 b.snt a.snt
	assert_failure 1
}

@test "--prefetch (reader and writer threads) gives the same bytes, spectrograms and waveforms mixed" {
	make_wav a.wav 1.7
	make_wav b.wav 0.4
	make_wav c.wav 0.9
	{ stft -c "$TINY" a.wav; stft -c "$TINY" b.wav | istft; stft -c "$TINY" c.wav; } > mixed.snt
	sepnet-fwd -m fresh.safetensors --no-prefetch mixed.snt > plain.snt
	sepnet-fwd -m fresh.safetensors --prefetch mixed.snt > threads.snt
	[ "$(snt-info threads.snt | wc -l)" -eq 3 ]
	cmp plain.snt threads.snt
	# chunks: written from the separator's window row by row without the
	# writer thread, from a record with it: the same bytes
	stft -c "$TINY" --chunk 0.3 a.wav > chunks.snt
	sepnet-fwd -m fresh.safetensors --no-prefetch chunks.snt > plain.snt
	sepnet-fwd -m fresh.safetensors --prefetch chunks.snt > threads.snt
	[ "$(snt-info threads.snt | wc -l)" -ge 2 ]
	cmp plain.snt threads.snt
	# chunks longer than a segment go in pieces, each piece's final frames
	# a record of their own, with the writer thread too
	make_wav d.wav 6
	stft -c "$TINY" --chunk 2.5 d.wav > long.snt
	sepnet-fwd -m fresh.safetensors --no-prefetch long.snt > plain.snt
	sepnet-fwd -m fresh.safetensors --prefetch long.snt > threads.snt
	[ "$(snt-info threads.snt | wc -l)" -gt "$(snt-info long.snt | wc -l)" ]
	cmp plain.snt threads.snt
	# 24-bit: float WAV carries a PEAK chunk with a time stamp
	sepnet-fwd -m fresh.safetensors --prefetch -b 24 -o 'p/%t-%s.wav' a.wav b.wav c.wav
	sepnet-fwd -m fresh.safetensors --no-prefetch -b 24 -o 'q/%t-%s.wav' a.wav b.wav c.wav
	for f in q/*.wav; do cmp "$f" "p/${f#q/}"; done
	[ "$(ls p | wc -l)" -eq 12 ]
}

@test "--prefetch: a bad record read ahead fails where the plain reader fails, after the good ones" {
	make_wav a.wav 0.5
	{ stft -c "$TINY" a.wav | istft; stft -c "$TINY" a.wav | istft; record SNT1 $'dtype=f32\nshape=2,10' 40 | head -c 100; } > bad.snt
	for mode in --prefetch --no-prefetch; do
		run --separate-stderr sepnet-fwd -m fresh.safetensors $mode -o "out$mode/%i-%s.wav" bad.snt
		assert_failure 1
		assert_equal "$stderr" "$(sepnet-fwd -m fresh.safetensors --no-prefetch bad.snt 2>&1 >/dev/null)"
		[ "$(ls "out$mode" | wc -l)" -eq 8 ]
	done
}
