#!/usr/bin/env bats
# Hardening (issue 14): every reproducer in tests/fuzz/regressions/ makes
# each tool that reads it exit 1 with one line on stderr and nothing on
# stdout, in bounded memory (ulimit -v 300 MB); a run folder is locked;
# a bad option is one line.

load helper
bats_require_minimum_version 1.5.0

REG=$ROOT/tests/fuzz/regressions

setup_file() {
	require musdb-cat sepnet-fwd sepnet-train stft istft sisdr make-dataset timeout
	cd "$BATS_FILE_TMPDIR"
	make-dataset --seed 2 --train 1 --test 1 --seconds 1 ds > /dev/null
	sepnet-fwd --init -c "$ROOT/configs/tiny.ini" -o tiny.safetensors
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# refused WANT CMD...: CMD exits 1 within 10 s in 300 MB of address space
# (not under make check-sanitize: ASan reserves terabytes of shadow
# memory), prints nothing on stdout and exactly one line on stderr,
# containing WANT
refused() {
	local want=$1 limit="ulimit -v 300000;"
	shift
	[ -z "${ASAN_OPTIONS:-}" ] || limit=
	run --separate-stderr bash -c "$limit"' exec timeout 10 "$@"' refused "$@"
	[ "$status" -eq 1 ] || fail "$*: exit $status ($stderr)"
	assert_equal "$output" ""
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "$*: ${#stderr_lines[@]} lines: $stderr"
	[[ $stderr == *"$want"* ]] || fail "$*: $stderr"
}

@test "config values over their limits: musdb-cat, sepnet-fwd --init, sepnet-train" {
	DS=$BATS_FILE_TMPDIR/ds
	refused "[train] segment_length: 1152921504606846976 is over the limit of 134217728" \
		musdb-cat train -r "$DS" -c "$REG/segment-2e60.ini" -n 1
	refused "[model] n_fft: 1073741824 is over the limit of 65536" \
		sepnet-fwd --init -c "$REG/n-fft-2e30.ini" -o x.safetensors
	refused "[train] gradient_accum: 2147483647 is over the limit of 65536" \
		sepnet-train -c "$REG/accum-2e31.ini" -o r /dev/null
	[ ! -e x.safetensors ] && [ ! -e r ]
	# within every key's limit, too large together
	sed 's/^emb_dim = .*/emb_dim = 16384/; s/^attention_dim = .*/attention_dim = 16384/; s/^n_layers = .*/n_layers = 256/' \
		"$ROOT/configs/tiny.ini" > huge.ini
	refused "parameters is over the limit of 2147483648" sepnet-fwd --init -c huge.ini -o x.safetensors
}

@test "checkpoints: a 1 KB file asking for 10^8 layers, and one whose tensors do not make its model" {
	for tool in "sepnet-fwd --info -m" "sepnet-fwd -m" "stft -m"; do
		refused "[model] n_layers: 100000000 is over the limit of 256" $tool "$REG/layers-1e8.safetensors"
		refused "its config makes a model of" $tool "$REG/layers-200-few-tensors.safetensors"
	done
	mkdir -p run && cp "$REG/layers-200-few-tensors.safetensors" run/last.safetensors
	sed 's/^n_layers = .*/n_layers = 200/' "$ROOT/configs/tiny.ini" > run/config.ini
	refused "its config makes a model of" sepnet-train --resume -o run /dev/null
}

@test "audio readers: a 75-byte header declaring 514 channels and 970 MB" {
	refused "au-514-channels-no-data.au: audio file has no samples" stft "$REG/au-514-channels-no-data.au"
	refused "audio file has no samples" bash -c "stft < '$REG/au-514-channels-no-data.au'"
	refused "audio file has no samples" sepnet-fwd -m "$BATS_FILE_TMPDIR/tiny.safetensors" "$REG/au-514-channels-no-data.au"
}

@test "fuzz finding: a 594-channel header downmixed (the channel map indexed past its table)" {
	run --separate-stderr stft -m "$BATS_FILE_TMPDIR/tiny.safetensors" "$REG/au-594-channels-downmix.au"
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "${stderr_lines[0]}" "stft: $REG/au-594-channels-downmix.au: 594 channels downmixed to stereo (odd/even channels to left/right)"
	[[ ${stderr_lines[1]} == *"samples are too few for n_fft 512"* ]]
}

@test "NaN and infinity in waveforms, spectrograms, stems and weights are refused naming them" {
	M=$BATS_FILE_TMPDIR/tiny.safetensors
	refused "waveform-nan.snt: record 0: NaN or infinity at sample 100" stft "$REG/waveform-nan.snt"
	refused "waveform-nan.snt: record 0: NaN or infinity at value 100" sepnet-fwd -m "$M" "$REG/waveform-nan.snt"
	refused "spectrogram-inf.snt: record 0: NaN or infinity at value 202" sepnet-fwd -m "$M" "$REG/spectrogram-inf.snt"
	refused "spectrogram-inf.snt: record 0: NaN or infinity at value 202" istft "$REG/spectrogram-inf.snt"
	# a NaN in the weights: the last float of the file is out.bias
	cp "$M" nan.safetensors
	printf '\x00\x00\xc0\x7f' | dd of=nan.safetensors bs=1 seek=$(($(stat -c %s nan.safetensors) - 4)) conv=notrunc 2> /dev/null
	refused "nan.safetensors: tensor out.bias holds NaN or infinity" sepnet-fwd -m nan.safetensors "$REG/waveform-sr-0.snt"
	# sisdr: a NaN estimate
	refused "waveform-nan.snt: record 0: NaN or infinity at sample 100" sisdr "$REG/waveform-nan.snt" "$REG/waveform-nan.snt"
}

@test "sample rates of 0 or below and impossible lengths are refused where they enter" {
	M=$BATS_FILE_TMPDIR/tiny.safetensors
	refused "waveform-sr-0.snt: record 0: sr=0: a sample rate is an integer from 1 to 768000 Hz" stft "$REG/waveform-sr-0.snt"
	refused "sr=-44100: a sample rate is an integer from 1 to 768000 Hz" stft "$REG/waveform-sr-negative.snt"
	refused "sr=0: a sample rate" sepnet-fwd -m "$M" "$REG/waveform-sr-0.snt"
	refused "length=1099511627776 does not fit 4 frames of hop 128" sepnet-fwd -m "$M" "$REG/spectrogram-length-2e40.snt"
	refused "length=-5 does not fit 4 frames of hop 128" sepnet-fwd -m "$M" "$REG/spectrogram-length-negative.snt"
}

@test "one trainer per run folder: the second names the first's PID" {
	sed 's/^epoch_size = .*/epoch_size = 8/' "$ROOT/configs/tiny.ini" > t.ini
	{ sleep 30 | sepnet-train -q -c t.ini -o run; } &
	local waited=0
	until [ -s run/lock ] || [ $waited -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
	pid=$(cat run/lock)
	refused "run: another sepnet-train (pid $pid) is training in this folder" \
		sepnet-train -q -c t.ini -o run /dev/null
	kill "$pid"
	wait || true
}

@test "a bad option is one line that points to -h" {
	for tool in stft istft sepnet-fwd sepnet-train snt-info sisdr musdb-cat; do
		run --separate-stderr "$tool" --no-such-option
		assert_failure 2
		assert_equal "$stderr" "$tool: unknown option --no-such-option; see $tool -h"
	done
	run --separate-stderr stft -n
	assert_failure 2
	assert_equal "$stderr" "stft: option -n needs a value; see stft -h"
	run --separate-stderr sepnet-fwd --model
	assert_equal "$stderr" "sepnet-fwd: option --model needs a value; see sepnet-fwd -h"
}
