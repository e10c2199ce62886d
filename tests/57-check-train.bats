#!/usr/bin/env bats
# check-train, the GPU's training-step check against the cpu
# (tests/gpu/check.sh), run with the cpu backend standing in for the GPU:
# the harness itself, and the synthetic stems it trains on being learnable.

load helper

setup() {
	require check-train
	cd "$ROOT"
}

@test "check-train --self: one step, every tensor compared, errors zero" {
	run --separate-stderr check-train --self --batch 1 configs/tiny.ini
	assert_success
	assert_line --regexp '^  gradients +worst 0 '
	assert_line --regexp '^  first moments +worst 0 '
	assert_line --regexp '^  micro-batch 0 +loss cuda ([-0-9.e]+) cpu \1 \(relative 0\)'
	assert_equal "${lines[-1]}" "  ok"
}

@test "check-train --self --learn: the loss falls on the synthetic stems" {
	run --separate-stderr check-train --self --learn 12 configs/tiny.ini
	assert_success
	assert_line --regexp '^check-train --learn configs/tiny.ini: mean loss .*: ok$'
}

@test "check-train: usage errors" {
	run --separate-stderr check-train --learn 0 configs/tiny.ini
	assert_failure 2
	assert_output ""
	run --separate-stderr check-train
	assert_failure 2
	assert_output ""
}
