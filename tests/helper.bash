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

# record MAGIC HEADER_TEXT PAYLOAD_BYTES: one raw record on stdout, the
# header padded with newlines so that 8 + H is a multiple of 64.
record() {
	local text=$2 hl
	hl=${#text}
	while (((8 + hl) % 64)); do text+=$'\n'; hl=$((hl + 1)); done
	printf '%s' "$1"
	printf "\\x$(printf %02x $((hl & 255)))\\x$(printf %02x $((hl >> 8 & 255)))\\x00\\x00"
	printf '%s' "$text"
	head -c "$3" /dev/zero
}

# make_wav PATH SECONDS [RATE] [CHANNELS]: a two-tone test signal as WAV
# (32-bit float), channels slightly different so a swap would show.
make_wav() {
	sox -r "${3:-44100}" -c "${4:-2}" -n -b 32 -e floating-point "$1" \
		synth "$2" sine 220 sine 331 gain -6
}

# waveform_record HEADER_TEXT SAMPLES: an f32 SNT record whose payload is a
# sine (from sox) of SAMPLES values; the header must declare that many.
waveform_record() {
	record SNT1 "$1" 0
	sox -r 8000 -n -c 1 -t f32 - synth "$2"s sine 300 gain -3
}

# path_without DIR PROG...: fill DIR with links to every program on PATH
# but PROG..., so that PATH=DIR runs as on a machine without them.
path_without() {
	local dir=$1 d f name skip p
	shift
	mkdir -p "$dir"
	local IFS=:
	for d in $PATH; do
		for f in "$d"/*; do
			name=${f##*/} skip=
			for p in "$@"; do [ "$name" = "$p" ] && skip=1; done
			[ -z "$skip" ] && [ -x "$f" ] && [ ! -d "$f" ] && [ ! -e "$dir/$name" ] && ln -s "$f" "$dir/$name"
		done
	done
	return 0
}
