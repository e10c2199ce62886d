# helper.bash: loaded by every tests/NN-*.bats suite.
#
# Binaries come from the environment that tests/run sets (SEPNET_BIN for the
# tools, SEPNET_TESTBIN for test helpers) so a suite runs against any build.
# A missing prerequisite fails the suite instead of skipping it.

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

ROOT=${SEPNET_ROOT:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
BIN=${SEPNET_BIN:-$ROOT/bin}
TESTBIN=${SEPNET_TESTBIN:-$ROOT/build/tests}
PATH=$BIN:$TESTBIN:$TESTBIN/tools:$PATH
export PATH

# Fail the suite when a required program is missing.
require() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null || { echo "missing prerequisite: $p" >&2; return 1; }
	done
}

# A generated test signal: stereo, SECONDS long, at 44.1 kHz, as WAV float.
make_wav() {	# path seconds [rate] [channels]
	sox -n -r "${3:-44100}" -c "${4:-2}" -b 32 -e floating-point "$1" \
		synth "$2" sine 220 sine 331 gain -6 remix - 2>/dev/null ||
	sox -n -r "${3:-44100}" -c "${4:-2}" -b 32 -e floating-point "$1" \
		synth "$2" sine 220 gain -6
}
