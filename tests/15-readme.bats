#!/usr/bin/env bats
# Every command shown in the README runs, verbatim, in a folder set up as
# a new user's would be: a generated dataset in ~/musdb18hq, a song.wav,
# the repository's configs/ and models/.  make test and make demo are run
# by CI itself (.ci/run).  The training command is endless by design
# (300 epochs of base.ini): it runs until its first step is logged, then
# gets SIGTERM, on which sepnet-train saves last.safetensors.  Then the
# installed tree: make install to a temporary PREFIX, and -m demo from
# another folder.

load helper
bats_require_minimum_version 1.5.0

setup_file() {
	require make-dataset musdb-cat sepnet-train sepnet-fwd stft istft sisdr snt-info sox timeout
	cd "$BATS_FILE_TMPDIR"
	mkdir -p home
	make-dataset --seed 11 --train 2 --test 1 --seconds 12 home/musdb18hq > /dev/null
	# the README's commands, continuation lines joined; make is CI's
	awk '/^```sh/ { f = 1; next } /^```/ { f = 0 } f' "$ROOT/README.md" |
		sed -e 's/[[:space:]]*#.*//' | awk '/\\$/ { sub(/\\$/, ""); printf "%s", $0; next } { print }' |
		grep -v -e '^[[:space:]]*$' -e '^make ' > commands
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

@test "README: every command shown runs as written" {
	export HOME=$BATS_FILE_TMPDIR/home
	# the data-parallel commands: Open MPI refuses root without these (CI
	# runs as root), and the host file names this machine
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	echo "localhost slots=2" > hosts
	ln -sfn "$ROOT/configs" configs
	ln -sfn "$ROOT/models" models
	make_wav song.wav 3
	sepnet-fwd --init -c configs/base.ini -o model.safetensors
	[ "$(wc -l < commands)" -ge 9 ]
	local cmd n=0
	while IFS= read -r cmd; do
		n=$((n + 1))
		# (under make check-sanitize, the data-parallel commands are left to
		# tests/64-dist: a first step of base.ini on two ASan ranks is
		# minutes of CI for nothing 64-dist does not check)
		[[ $cmd == mpirun* && -n ${ASAN_OPTIONS:-} ]] && continue
		if [[ $cmd == *sepnet-train* ]]; then
			# endless: stop it after its first step, as ^C would
			local dir
			dir=$(grep -oE -- "-o runs/[^ ']+" <<<"$cmd" | head -1 | cut -d' ' -f2)
			rm -rf "$dir"
			bash -o pipefail -c "$cmd" 2> train.err < /dev/null &	# (mpirun reads stdin)
			local pid=$! waited=0
			until grep -q 'step 1' train.err 2>/dev/null || [ $waited -ge 300 ]; do
				sleep 1
				waited=$((waited + 1))
			done
			pkill -TERM -x sepnet-train || true
			wait $pid || true
			grep -q "interrupted at step [0-9]*.*saved $dir/last.safetensors" train.err ||
				fail "$cmd: $(tr '\r' '\n' < train.err | tail -3)"
			# the README separates with best.safetensors (written by --valid runs)
			cp "$dir/last.safetensors" "$dir/best.safetensors"
			continue
		fi
		run --separate-stderr bash -o pipefail -c "$cmd"
		[ "$status" -eq 0 ] || fail "README command $n: $cmd: exit $status: $stderr"
	done < commands
	for s in drums bass other vocals; do [ -s "out/$s.wav" ] && [ -s "bs/$s.wav" ]; done
	[ -s song-again.wav ] && [ -s est.snt ] && [ -s ref.snt ]
}

@test "make install: configs, models, make-dataset, plot-metrics and snt.py; -m demo from another folder" {
	run make -C "$ROOT" --no-print-directory install PREFIX="$BATS_FILE_TMPDIR/pfx" \
		OBJDIR="$(dirname "$SEPNET_TESTBIN")" BINDIR="$SEPNET_BIN"
	assert_success
	P=$BATS_FILE_TMPDIR/pfx
	for f in bin/make-dataset bin/plot-metrics share/sepnet/configs/base.ini \
		share/sepnet/models/demo.safetensors share/sepnet/examples/snt.py \
		share/man/man1/make-dataset.1; do
		[ -f "$P/$f" ] || fail "not installed: $f"
	done
	mkdir -p elsewhere && cd elsewhere
	make_wav song.wav 1 48000 1
	run --separate-stderr env -u SEPNET_DATA "$P/bin/sepnet-fwd" -m demo -o 'out/%s.wav' song.wav
	assert_success
	assert_equal "$stderr" ""
	[ "$(soxi -r out/vocals.wav)" = 48000 ] && [ "$(soxi -s out/vocals.wav)" = 48000 ]
	"$P/bin/stft" -c tiny song.wav | "$P/bin/snt-info" | grep -q 'n_fft=512'
}
