#!/usr/bin/env bats
# check-ops, the GPU's op-by-op check against the cpu (tests/gpu/check.sh),
# run with the cpu backend standing in for the GPU: --self exercises the
# whole harness on any machine, --self-faulty breaks four ops on purpose
# and the harness must catch exactly those.

load helper

# the ops of the training table (backend.h), as the lines of check-ops name them
NEW_OPS=(linear_backward rmsnorm_backward gelu_forward gelu_backward rope_backward
	attention_backward residual_dropout_forward residual_backward mask_backward
	sum_rows stem_mix scale sumsq adamw ema_update loss_time loss_spectral
	stft_inverse_backward host_alloc upload_async)

setup() {
	require check-ops
	cd "$ROOT"	# the separator check reads configs/tiny.ini
}

@test "check-ops --self: every check passes, one line each" {
	run --separate-stderr check-ops --self
	assert_success
	assert_equal "$stderr" ""
	refute_line --partial FAIL
	assert_line --regexp '^0 of [0-9]+ checks failed$'
	local n=${lines[-1]#0 of } ok
	n=${n% checks failed}
	ok=$(grep -c ' ok$' <<<"$output")
	assert_equal "$ok" "$n"
	[ "$n" -ge 130 ]
}

@test "check-ops --self: a check for every training op and bf16 attention" {
	run --separate-stderr check-ops --self
	assert_success
	local op
	for op in "${NEW_OPS[@]}"; do
		assert_line --regexp "^$op[ ,].* ok$"
	done
	assert_line --regexp '^flash attention \(T 100, head 16\) +bf16 .* ok$'
	assert_line --regexp '^flash attention \(T 100, head 64\) +bf16 .* ok$'
	assert_line --regexp '^attention_backward \(T 77, head 24\) +f32 .* ok$'
	assert_line --regexp '^adamw t 3 params .* ok$'
	assert_line --regexp '^sum_rows by row .* ok$'
	assert_line --regexp '^sum_rows by column .* ok$'
	assert_line --regexp '^stft_inverse_backward 512/128 rows 3 .* ok$'
}

@test "check-ops --self-faulty: exactly the broken ops fail" {
	run --separate-stderr check-ops --self-faulty
	assert_failure 1
	# an overwrite instead of an add, an element left as NaN, another
	# dropout mask, a host value off in its seventh digit
	assert_line --regexp '^linear_backward dweight 100x48->72 +f32 .* FAIL$'
	assert_line --regexp '^mask_backward \(S 4\) .* FAIL \(1 NaN/Inf\)$'
	assert_line --regexp '^residual_dropout_forward p 0.1 .* FAIL$'
	assert_line --regexp '^loss_time sisdr +f64 .* FAIL$'
	# and nothing else: their other outputs, p 0, l1 and dx pass
	assert_line --regexp '^linear_backward dinp 100x48->72 +f32 .* ok$'
	assert_line --regexp '^residual_dropout_forward p 0 .* ok$'
	assert_line --regexp '^loss_time l1 .* ok$'
	assert_line --regexp '^loss_time dx .* ok$'
	local others
	others=$(grep FAIL <<<"$output" | grep -v -e '^linear_backward dweight' -e '^mask_backward' \
		-e '^residual_dropout_forward p 0.1' -e '^loss_time.* sisdr ' || true)
	assert_equal "$others" ""
	assert_line --regexp "^$(grep -c FAIL <<<"$output") of [0-9]+ checks failed$"
}

@test "check-ops: an unknown option is a usage error" {
	run --separate-stderr check-ops --bogus
	assert_failure 2
	assert_equal "$output" ""
	[[ $stderr == *usage:*--self* ]]
}
