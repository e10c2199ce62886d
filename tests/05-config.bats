#!/usr/bin/env bats
# 05-config: configuration errors reach the user through a tool's -c FILE
# as exit 1 and one line on stderr naming file, line and key; the shipped
# configs load.  The loader itself is tested in tests/unit/test_config.c.

load helper

FIXTURES=$ROOT/tests/fixtures/configs

setup() {
	require stft sox
	make_wav "$BATS_TEST_TMPDIR/x.wav" 0.5
}

# stft -c FILE fails with exit 1, nothing on stdout, and exactly one line
# on stderr matching the regex.
config_error() {	# fixture regex
	run --separate-stderr stft -c "$FIXTURES/$1" "$BATS_TEST_TMPDIR/x.wav"
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "$2"
}

@test "an unknown key names file, line and key" {
	config_error unknown-key.ini '^stft: .*/unknown-key\.ini:5: \[model\] n_head: unknown key$'
}

@test "a malformed number names file, line and key" {
	config_error bad-number.ini '^stft: .*/bad-number\.ini:4: \[model\] hop_length: malformed integer .12x8.$'
}

@test "attention_dim not divisible by n_heads names file, line and key" {
	config_error heads-indivisible.ini '^stft: .*/heads-indivisible\.ini:6: \[model\] n_heads: attention_dim 32 is not divisible by n_heads 3$'
}

@test "an odd head size names file, line and key" {
	config_error odd-head-size.ini '^stft: .*/odd-head-size\.ini:5: \[model\] n_heads: head size .* is odd'
}

@test "bsroformer: band widths that miss the bins name file, line and key" {
	config_error bands-sum.ini '^stft: .*/bands-sum\.ini:5: \[model\] bands: the widths add up to 250 bins, but n_fft 512 has 257 \(or write bands = paper\)$'
}

@test "bsroformer: one band, or a feed-forward of two layers, names file, line and key" {
	config_error one-band.ini '^stft: .*/one-band\.ini:6: \[model\] bands: needs 2 to 64 widths, or paper$'
	config_error bsroformer-ffn.ini '^stft: .*/bsroformer-ffn\.ini:5: \[model\] ffn_hidden_dim: the bsroformer.s feed-forward has one hidden layer'
}

@test "a missing config file is named" {
	run --separate-stderr stft -c "$BATS_TEST_TMPDIR/none.ini" "$BATS_TEST_TMPDIR/x.wav"
	assert_failure 1
	assert_equal "$output" ""
	assert_regex "$stderr" '^stft: .*/none\.ini: No such file or directory$'
}

@test "the shipped configs load and set n_fft and hop" {
	require snt-info
	for f in tiny:512:128 small:2048:512 base:4096:1024 xlarge:4096:1024 bs-tiny:512:128 \
		bs-small:2048:512 bs-base:2048:512; do
		IFS=: read -r name n_fft hop <<<"$f"
		run --separate-stderr bash -c 'stft -c "$1" "$2" | snt-info' _ \
			"$ROOT/configs/$name.ini" "$BATS_TEST_TMPDIR/x.wav"
		assert_success
		assert_output --partial " n_fft=$n_fft hop=$hop "
	done
}
