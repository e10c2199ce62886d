#!/usr/bin/env bats
# check-ops, the GPU's op-by-op check against the cpu (tests/gpu/check.sh),
# run with the cpu backend standing in for the GPU: --self exercises the
# whole harness (the op table of tests/unit/op_cases.h and the checks
# beside it) on any machine, --self-faulty breaks four ops on purpose and
# the harness must catch exactly those.

load helper

# the rows of the op table (tests/unit/op_cases.h) and the other checks,
# as the lines of check-ops name them
TABLE=(linear linear_gelu gemm rmsnorm gelu rope attention residual features mask loss_time
	loss_spectral broadcast sum_rows scale stem_mix adamw ema chunk mask_accumulate wiener)
OTHERS=(sumsq stft_inverse_backward host_alloc upload_async separator)

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
	[ "$n" -ge 100 ]
}

@test "check-ops --self: every row of the op table, bf16 attention, the other checks" {
	run --separate-stderr check-ops --self
	assert_success
	local op
	for op in "${TABLE[@]}" "${OTHERS[@]}"; do
		assert_line --regexp "^$op[ ,].* ok$"
	done
	assert_line --regexp '^attention 2x100x128x2 out 0 +bf16 .* ok$'
	assert_line --regexp '^attention 2x77x128x2 d0 +f32 .* ok$'
	assert_line --regexp '^adamw 10007x3 out 0 .* ok$'
	assert_line --regexp '^stft_inverse_backward 512/128 rows 3 .* ok$'
}

@test "check-ops --self-faulty: exactly the broken ops fail" {
	run --separate-stderr check-ops --self-faulty
	assert_failure 1
	# an overwrite instead of an add, an element left unwritten, another
	# dropout mask, a host value off in its seventh digit
	assert_line --regexp '^linear 100x48x72x1 d1 +f32 .* FAIL$'
	assert_line --regexp '^mask 2x4x2x33x50 d0 .* FAIL$'
	assert_line --regexp '^residual 10007x100 +f32 .* FAIL$'
	assert_line --regexp '^loss_time sisdr +f64 .* FAIL$'
	# and nothing else: their other outputs, p 0, l1 and dx pass
	assert_line --regexp '^linear 100x48x72x1 d0 +f32 .* ok$'
	assert_line --regexp '^residual 10007 +f32 .* ok$'
	assert_line --regexp '^loss_time l1 .* ok$'
	assert_line --regexp '^loss_time dx .* ok$'
	local others
	others=$(grep FAIL <<<"$output" | grep -v -e '^linear 100x48x72\(x1\)\? d1 ' -e '^mask ' \
		-e '^residual 10007x100 ' -e '^loss_time.* sisdr ' || true)
	assert_equal "$others" ""
	assert_line --regexp "^$(grep -c FAIL <<<"$output") of [0-9]+ checks failed$"
}

@test "gemm-peak -m: the rates of a transformer config's GEMMs alone; other archs refused" {
	require gemm-peak
	run --separate-stderr gemm-peak -m configs/tiny.ini -r 1
	assert_success
	assert_output --regexp '^model_sgemm=[0-9]+\.[0-9] model_bf16=[0-9]+\.[0-9]$'
	[[ $output != *"sgemm=0.0 "* ]]
	run --separate-stderr gemm-peak -m configs/bs-tiny.ini
	assert_failure 1
	assert_equal "$stderr" "gemm-peak: configs/bs-tiny.ini: -m times the transformer's GEMMs, not arch bsroformer"
}

@test "check-ops: an unknown option is a usage error" {
	run --separate-stderr check-ops --bogus
	assert_failure 2
	assert_equal "$output" ""
	[[ $stderr == *usage:*--self* ]]
}
