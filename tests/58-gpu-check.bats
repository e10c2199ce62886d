#!/usr/bin/env bats
# tests/gpu/check.sh, the GPU acceptance check, in its dry run: every
# section with the cpu standing in for cuda and the tools of this build,
# so the script cannot rot between the runs on a GPU.

load helper

@test "check.sh --dry-run: every section runs and passes" {
	require check-ops check-train sepnet-fwd stft istft
	# the PyTorch row needs Debian's python3-torch, which CI need not have
	local py torch=
	for py in python3 /usr/bin/python3; do
		"$py" -c 'import torch' 2>/dev/null && { torch=1; export PYTHON=$py; break; }
	done
	run --separate-stderr env CHECK_TOOLS=path "$ROOT/tests/gpu/check.sh" --dry-run
	assert_success
	for s in "== 1. ops" "== 2. sepnet-fwd" "== 3. benchmark" "== 4. training" "== 5. steps" "== 6. training benchmark"; do
		assert_line --partial "$s"
	done
	assert_line --regexp '^0 of [0-9]+ checks failed$'
	assert_line --regexp '^  tiny +sepnet \(sepnet-train.s step\) +[0-9.]+ +nan$'
	if [ -n "$torch" ]; then
		assert_line --regexp '^  tiny +PyTorch .*[0-9.]+ +[0-9.]+$'
	else
		assert_line --partial '  tiny: PyTorch twin failed'
	fi
	assert_equal "${lines[-1]}" "check.sh: every check passed"
	refute_output --partial FAIL
}
