#!/usr/bin/env bats
# The SNT stream at the command line: snt-info, and every malformed input of
# DESIGN §2 fed to each tool that reads streams: exit 1, one line on stderr
# naming the input, record and byte offset, nothing on stdout.

load helper

setup() {
	require snt-info stft istft sox script
	cd "$BATS_TEST_TMPDIR"
}

good() { record SNT1 $'dtype=f32\nshape=2\nsr=8000\n' 8; }

@test "snt-info: one line per record with dtype, shape, keys and size" {
	{ good; record SNT1 $'dtype=c64\nshape=2,3\nname=spec\nn_fft=4\n' 48; } > two.snt
	run --separate-stderr snt-info two.snt
	assert_success
	assert_line --index 0 --regexp $'^0\t-\tf32\t\\[2\\]\tsr=8000\t8 bytes$'
	assert_line --index 1 --regexp $'^1\tspec\tc64\t\\[2,3\\]\tn_fft=4\t48 bytes$'
}

@test "snt-info --stats: min, max, rms and NaN count" {
	stft -n 16 -H 4 <(make_wav /dev/stdout 0.1) > s.snt 2>/dev/null || { make_wav a.wav 0.1; stft -n 16 -H 4 a.wav > s.snt; }
	run --separate-stderr snt-info --stats s.snt
	assert_success
	assert_output --regexp 'min=-?[0-9.e+-]+ max=[0-9.e+-]+ rms=[0-9.e+-]+ nan=0 inf=0$'
}

@test "snt-info reads a stream of many records from a pipe" {
	for i in 1 2 3 4 5; do good; done | snt-info > out.txt
	[ "$(wc -l < out.txt)" -eq 5 ]
}

# Every malformed input, for every tool that reads streams: the stream is
# in bad.snt; a bad first record must leave stdout empty.
malformed() {	# name [after-good-record: only snt-info reads past record 0]
	local tool tools="snt-info istft stft"
	[ -z "${2:-}" ] || tools=snt-info
	for tool in $tools; do
		run --separate-stderr "$tool" bad.snt
		[ "$status" -eq 1 ] || { echo "$tool: status $status on $1"; return 1; }
		[ -n "${2:-}" ] || [ -z "$output" ] || { echo "$tool: stdout not empty on $1"; return 1; }
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { echo "$tool: not one line: $stderr"; return 1; }
		[[ $stderr == "$tool: bad.snt: record "*" at byte "* ]] || { echo "$tool: '$stderr'"; return 1; }
	done
}

@test "wrong magic" {
	{ good; record SNT2 $'dtype=f32\nshape=2\n' 8; } > bad.snt
	malformed magic after-good-record
	[[ $stderr == *"record 1 at byte 72: bad magic"* ]]
}

@test "short header" {
	{ good; printf 'SNT1\x38\x00\x00\x00dtype=f32\n'; } > bad.snt
	malformed short-header after-good-record
	[[ $stderr == *"inside a record header"* ]]
}

@test "bad dtype" {
	record SNT1 $'dtype=f64\nshape=2\n' 8 > bad.snt
	malformed dtype
	[[ $stderr == *"record 0 at byte 0: malformed dtype"* ]]
}

@test "bad shape" {
	record SNT1 $'dtype=f32\nshape=2,-1\n' 8 > bad.snt
	malformed shape
	[[ $stderr == *"malformed shape"* ]]
}

@test "missing dtype" {
	record SNT1 $'shape=2\n' 8 > bad.snt
	malformed nodtype
	[[ $stderr == *"no dtype"* ]]
}

@test "over-long header" {
	{ printf 'SNT1\x00\x00\x02\x00'; head -c 200 /dev/zero; } > bad.snt
	malformed long
	[[ $stderr == *"exceeds 65536"* ]]
}

@test "payload over 2^40 bytes" {
	record SNT1 $'dtype=c64\nshape=1099511627776,4\n' 0 > bad.snt
	malformed huge
	[[ $stderr == *"2^40"* ]]
}

@test "truncated payload of a first record: nothing on stdout" {
	record SNT1 $'dtype=c64\nshape=1,3,8\nn_fft=4\nhop=1\n' 40 > spec.snt
	record SNT1 $'dtype=f32\nshape=2,20\n' 40 > wave.snt
	for run in "snt-info spec.snt" "istft spec.snt" "stft -n 4 -H 2 wave.snt"; do
		run --separate-stderr $run
		assert_failure 1
		assert_output ''
		[[ $stderr == *".snt: record 0 at byte 104: stream ends inside the payload ("[0-9]*" bytes missing)" ]]
	done
}

@test "truncated payload" {
	{ good; record SNT1 $'dtype=f32\nshape=100\n' 40; } > bad.snt
	malformed truncated after-good-record
	[[ $stderr == *"record 1 at byte 176: stream ends inside the payload (360 bytes missing)"* ]]
}

@test "an empty stream is an error for every tool" {
	for tool in snt-info istft stft; do
		run --separate-stderr "$tool" < /dev/null
		assert_failure 1
		assert_output ''
		[[ $stderr == "$tool: <stdin>: empty"* ]]
	done
}

@test "a non-audio, non-SNT file" {
	echo "just some text, not audio" > notes.txt
	run --separate-stderr stft notes.txt
	assert_failure 1
	assert_output ''
	[[ $stderr == "stft: notes.txt: cannot read audio:"* ]]
	run --separate-stderr snt-info notes.txt
	assert_failure 1
	[[ $stderr == *"notes.txt: record 0 at byte 0: bad magic"* ]]
}

@test "a missing file is named" {
	run --separate-stderr stft nonexistent.wav
	assert_failure 1
	[[ $stderr == "stft: nonexistent.wav: No such file or directory" ]]
	run --separate-stderr istft nonexistent.snt
	[[ $stderr == "istft: nonexistent.snt: No such file or directory" ]]
}

@test "binary output to a terminal is refused" {
	make_wav a.wav 0.2
	run script -qec "$BIN/stft a.wav" /dev/null
	assert_failure
	assert_output --partial 'refusing to write binary data to a terminal'
	stft a.wav > s.snt
	run script -qec "$BIN/istft s.snt" /dev/null
	assert_failure
	assert_output --partial 'refusing to write binary data to a terminal'
}

@test "a closed downstream pipe ends the tools quietly" {
	make_wav a.wav 5
	stft -n 512 -H 128 a.wav > s.snt
	stft -n 512 -H 128 a.wav 2> err1 | head -c 100 > /dev/null
	istft s.snt 2> err2 | head -c 100 > /dev/null
	[ ! -s err1 ] && [ ! -s err2 ]
}

@test "usage errors exit 2, -h and --version exit 0" {
	for tool in stft istft snt-info; do
		run --separate-stderr "$tool" --no-such-option
		assert_failure 2
		assert_equal "$stderr" "$tool: unknown option --no-such-option; see $tool -h"
		run "$tool" -h
		assert_success
		assert_output --partial "usage: $tool"
		run "$tool" --version
		assert_success
		assert_output --regexp "^$tool [0-9]+\.[0-9]+\.[0-9]+$"
	done
}
