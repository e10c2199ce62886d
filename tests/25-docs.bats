#!/usr/bin/env bats
# The documentation against the tools: every man page renders without a
# warning, each tool's SYNOPSIS is its -h usage, the EXAMPLES of the pages
# run and print exactly what they show, and examples/roundtrip.sh runs.
#
# An EXAMPLES section holds .Bd -literal blocks of "$ command" lines, each
# followed by the standard output the page shows for it (none: the command
# prints nothing).  Commands run in order in one directory, under bash with
# pipefail; the Python examples need numpy and are not run here.

load helper
bats_require_minimum_version 1.5.0

setup() {
	require groff stft istft snt-info snt-cmp sox soxi od
	cd "$BATS_TEST_TMPDIR"
}

# normalise: one line, blanks squeezed, none around '|', argument names in
# lower case (the page writes n_fft where -h writes N_FFT); options keep
# their case, so -h and -H stay apart.
normalise() {
	tr '\t\n' '  ' | sed -e 's/ *| */|/g' |
		awk '{ for (i = 1; i <= NF; i++) if ($i !~ /^\[?-/) $i = tolower($i); print }'
}

# synopsis PAGE: the SYNOPSIS of a rendered page, normalised
synopsis() {
	groff -mandoc -Tascii -P-cbou -rLL=400n "$1" 2>/dev/null |
		sed -n '/^SYNOPSIS/,/^[A-Z]/{/^[A-Z]/!p}' | normalise
}

# examples PAGE DIR: DIR/N.sh holds the Nth command of the EXAMPLES of PAGE
# and DIR/N.out the output shown for it; prints the number of commands.
# A literal block that does not start with a command (code to read) is
# skipped.
examples() {
	local line sect= lit=0 n=0
	mkdir -p "$2"
	while IFS= read -r line; do
		case $line in
		.Sh\ *) sect=${line#.Sh } ;;
		.Bd\ -literal*) lit=start; continue ;;
		.Ed) lit=0; continue ;;
		esac
		[ "$sect" = EXAMPLES ] && [ $lit != 0 ] || continue
		if [[ $line == '$ '* ]]; then
			n=$((n + 1))
			printf '%s\n' "${line#\$ }" > "$2/$n.sh"
			: > "$2/$n.out"
		elif [ $lit = start ]; then
			lit=0
			continue
		else
			printf '%s\n' "$line" >> "$2/$n.out"
		fi
		lit=1
	done < "$1"
	sed -i -e 's/\\e/\\/g' -e 's/\\&//g' "$2"/*.sh "$2"/*.out
	echo $n
}

# run_examples PAGE: run every command of PAGE's EXAMPLES in the current
# directory; each must succeed, print nothing on stderr, and print on
# stdout exactly what the page shows.
run_examples() {
	local count k ex=$BATS_TEST_TMPDIR/ex	# not i: bats' own code sets it
	count=$(examples "$1" "$ex")
	[ "$count" -gt 0 ] || { echo "no examples in $1"; return 1; }
	for ((k = 1; k <= count; k++)); do
		run --separate-stderr bash -o pipefail -c "$(cat "$ex/$k.sh")"
		[ "$status" -eq 0 ] && [ -z "$stderr" ] && [ "$output" = "$(cat "$ex/$k.out")" ] || {
			echo "$1: \$ $(cat "$ex/$k.sh")"
			echo "exit $status; stderr: $stderr"
			diff "$ex/$k.out" <(printf '%s\n' "$output")
			return 1
		}
	done
}

# song.wav: three seconds of stereo at 44.1 kHz, as the pages say.
make_song() {
	make_wav song.wav 3
}

@test "every man page renders without warnings" {
	local p n=0
	for p in "$ROOT"/man/*.[1-9]; do
		run groff -mandoc -Tutf8 -ww -z "$p"
		assert_success
		[ -z "$output" ] || { echo "${p##*/}: $output"; return 1; }
		if command -v mandoc >/dev/null; then
			run mandoc -T lint -W warning "$p"
			[ -z "$output" ] || { echo "$output"; return 1; }
		fi
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

# options: the options of a normalised synopsis, in order, one line
options() {
	grep -oE -- '(^|[][ |])--?[[:alnum:]][[:alnum:]-]*' | sed 's/^[^-]*//' | tr '\n' ' '
}

# usage_of TOOL: the usage lines of TOOL -h (up to the first blank line)
usage_of() {
	"$1" -h | sed '/^$/q' | sed '/^$/d'
}

@test "stft, istft and snt-info: SYNOPSIS is the -h usage, word for word" {
	local tool
	for tool in stft istft snt-info; do
		run usage_of "$tool"
		assert_success
		assert_equal "$(sed 's/^usage: //' <<<"$output" | normalise)" "$(synopsis "$ROOT/man/$tool.1")"
	done
}

@test "-h of every tool: the usage, one line per option it names, and the manual" {
	local p tool opt n=0
	for p in "$ROOT"/man/*.1; do
		tool=$(basename "$p" .1)
		command -v "$tool" > /dev/null || continue
		run --separate-stderr "$tool" -h
		assert_success
		assert_equal "$stderr" ""
		[[ ${lines[0]} == "usage: $tool "* ]] || fail "$tool -h: ${lines[0]}"
		assert_equal "${lines[$((${#lines[@]} - 1))]}" "The manual: man $tool"
		# every option of the usage has a line of its own: "  -x, --long" or "      --long"
		for opt in $(usage_of "$tool" | normalise | options); do
			case $opt in -h) continue ;; esac
			if [[ $opt == --* ]]; then
				grep -qE -- "^ +(-[[:alnum:]], )?$opt([= ]|\[|$)" <<<"$output" || fail "$tool -h: no line for $opt"
			else
				grep -qE -- "^ +$opt, --" <<<"$output" || fail "$tool -h: no line for $opt"
			fi
		done
		n=$((n + 1))
	done
	[ "$n" -ge 8 ]
}

@test "every tool's SYNOPSIS has the options of its -h, and --version prints its name" {
	local p tool n=0
	for p in "$ROOT"/man/*.1; do
		tool=$(basename "$p" .1)
		[ -f "$ROOT/tools/$tool.c" ] || continue	# a page for a tool still to come
		run usage_of "$tool"
		assert_success
		assert_equal "$tool: $(normalise <<<"$output" | options)" "$tool: $(synopsis "$p" | options)"
		run "$tool" --version
		assert_output --regexp "^$tool [0-9]+\.[0-9]+"
		n=$((n + 1))
	done
	[ "$n" -ge 3 ]
}

@test "the synopsis check sees option letters" {
	[ "$(printf 'stft [-n N_FFT]\n    [-H HOP]' | normalise)" = 'stft [-n n_fft] [-H hop]' ]
	[ "$(synopsis "$ROOT/man/stft.1")" = 'stft [-m model|-c config] [-n n_fft] [-H hop] [--chunk=seconds] [-d cpu|cuda] [-q] [file ...]' ]
	[ "$(echo 'x [-h]' | normalise)" != "$(echo 'x [-H]' | normalise)" ]
	[ "$(echo 'snt-x [-o P [-b 16|24]] [--stats] A|B' | normalise | options)" = '-o -b --stats ' ]
}

@test "stft(1) EXAMPLES" {
	make_song
	ln -s "$ROOT/configs" configs
	run_examples "$ROOT/man/stft.1"
	[ -f song22k.snt ] && [ -f song-rt.wav ]
	run snt-cmp -t 1e-5 song.wav song-rt.wav
	assert_success
}

@test "istft(1) EXAMPLES" {
	make_song
	waveform_record $'dtype=f32\nshape=4,2,4000\nsources=drums,bass,other,vocals\ntrack=song\nsr=8000\n' 32000 |
		stft -n 256 -H 64 > stems.snt
	run_examples "$ROOT/man/istft.1"
	run snt-cmp -t 1e-6 song.wav song-rt.flac	# 24-bit steps are 1.2e-7
	assert_success
	[ "$(soxi -b out/song/vocals.wav)" = 16 ]
}

@test "snt-info(1) EXAMPLES" {
	make_song
	run_examples "$ROOT/man/snt-info.1"
}

@test "snt(5) EXAMPLES: the hex dump and the Python reader are the real ones" {
	run_examples "$ROOT/man/snt.5"
	# the reader shown is the one in examples/snt.py, line for line
	local shown
	shown=$(sed -n '/^def read(f):/,/^\.Ed/p' "$ROOT/man/snt.5" | sed -e '$d' -e 's/\\e/\\/g')
	[ -n "$shown" ]
	[[ "$(cat "$ROOT/examples/snt.py")" == *"$shown"* ]]
}

@test "a man page example that prints something else fails the check" {
	make_song
	cat > page.1 <<-'EOF'
	.Sh EXAMPLES
	.Bd -literal
	$ stft song.wav | snt-info | cut -f 3
	f32
	.Ed
	EOF
	run run_examples page.1
	assert_failure
	assert_output --partial '> c64'
}

@test "examples/roundtrip.sh reconstructs its tone within 1e-5" {
	run --separate-stderr env BINDIR="$BIN" OBJDIR="${TESTBIN%/tests}" "$ROOT/examples/roundtrip.sh" 1024 256
	assert_success
	assert_line --index 0 --partial $'c64\t[2,513,862]'
	assert_line --index 1 --regexp '^0	max_abs=[0-9.e-]+	'
}

# docs/DESIGN.md §1: lib/'s folders are layers, lowest first, and a file
# includes only from its own layer or one before it (the Makefile's order)
@test "lib/ layers: no file includes a header of a later layer" {
	local layers order=() l f inc where bad=
	layers=$(sed -n 's/^LIB_LAYERS := //p' "$ROOT/Makefile")
	declare -A rank
	local i=0
	for l in $layers; do
		for f in "$ROOT"/lib/$l/*; do rank[${f##*/}]=$i; done
		order[i]=$l
		i=$((i + 1))
	done
	i=0
	for l in $layers; do
		for f in "$ROOT"/lib/$l/*.[ch]; do
			for inc in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f"); do
				where=${rank[$inc]-}
				[ -n "$where" ] || { echo "${f#$ROOT/} includes $inc, in no layer"; bad=1; continue; }
				[ "$where" -le "$i" ] || { echo "${f#$ROOT/} includes $inc of ${order[where]}/"; bad=1; }
			done
		done
		i=$((i + 1))
	done
	[ -z "$bad" ]
}

@test "every DESIGN citation in the code points into docs/DESIGN.md, at a section it has" {
	local cite sec bad=
	while read -r cite; do
		sec=${cite##*§}
		grep -q "^## ${sec%%.*}\. " "$ROOT/docs/DESIGN.md" || { echo "no §$sec: $cite"; bad=1; }
	done < <(grep -rhoE 'DESIGN(\.md)? §[0-9]+(\.[0-9]+)?' "$ROOT"/lib "$ROOT"/tools "$ROOT"/cuda \
		"$ROOT"/tests/unit "$ROOT"/tests/tools "$ROOT"/Makefile)
	# and none to a design document outside the repository
	run grep -rnE '(^|[^/])DESIGN §' "$ROOT"/lib "$ROOT"/tools "$ROOT"/cuda "$ROOT"/tests/unit \
		"$ROOT"/tests/tools "$ROOT"/Makefile
	[ -z "$output" ] || { echo "$output"; bad=1; }
	[ -z "$bad" ]
}
