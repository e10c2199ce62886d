#!/usr/bin/env bats
# Data-parallel training (docs/DESIGN.md §5.6): sepnet-train under
# `mpirun -np 2 --oversubscribe` against the one-process run, step for
# step; musdb-cat's shards; one writer; checkpoints moving between rank
# counts; a killed rank; the errors.  Short runs: CI has 2 cores.

load helper
bats_require_minimum_version 1.5.0

FIX=$ROOT/tests/fixtures/train

setup_file() {
	require make-dataset musdb-cat sepnet-train snt-info mpirun
	sepnet-train --version | grep -q 'data-parallel: [^n]' ||
		{ echo "sepnet-train was built without MPI (NO_MPI, or no mpicc: make deps)" >&2; return 1; }
	cd "$BATS_FILE_TMPDIR"
	make-dataset --seed 3 --train 8 --test 0 --seconds 5 --valid-names 2 ds > /dev/null
	musdb-cat valid -r ds > valid.snt
	# the references: one process, 20 steps, dropout off (tiny) and on
	# (dropout.ini: dropout, gradient_accum 2, EMA, warmup, validation)
	musdb-cat train -r ds -c "$FIX/tiny.ini" -n 80 |
		sepnet-train -c "$FIX/tiny.ini" -o one --valid valid.snt --epoch-size 16 --steps 20 -q
	musdb-cat train -r ds -c "$FIX/dropout.ini" -n 80 |
		sepnet-train -c "$FIX/dropout.ini" -o drop --valid valid.snt --epoch-size 16 --steps 20 -q
	# and the band-split model with the same training state (its dropout
	# runs over blocks along time and along bands)
	musdb-cat train -r ds -c "$FIX/bs-dropout.ini" -n 40 |
		sepnet-train -c "$FIX/bs-dropout.ini" -o bs --valid valid.snt --epoch-size 16 --steps 10 -q
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	DS=$BATS_FILE_TMPDIR/ds
	VALID=$BATS_FILE_TMPDIR/valid.snt
	# Open MPI refuses root without these (CI runs as root)
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
}

# ranks N ARGS...: mpirun with N ranks on however many cores there are.
# Under make check-sanitize the ranks run without leak detection: Open MPI's
# components allocate and are unloaded before LeakSanitizer looks, so their
# leaks cannot be told apart (tests/60 checks the trainer alone for leaks)
ranks() {
	local n=$1
	shift
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun --oversubscribe -np "$n" "$@"
}

# same_steps REF RUN: every step line's loss and gradient norm, and every
# validation loss, of RUN/metrics.jsonl within 1e-4 relative of REF's
same_steps() {
	local a b
	for key in loss grad_norm valid_loss; do
		a=$(grep -oE "\"$key\":[^,}]*" "$1/metrics.jsonl" | cut -d: -f2)
		b=$(grep -oE "\"$key\":[^,}]*" "$2/metrics.jsonl" | cut -d: -f2)
		[ -n "$a" ] || { echo "no $key in $1" >&2; return 1; }
		paste <(echo "$a") <(echo "$b") | awk -v key="$key" '
			{ n++; d = $1 - $2; d = d < 0 ? -d : d; s = $1 < 0 ? -$1 : $1
			  if ($2 == "" || d > 1e-4 * s) { print key " line " n ": " $1 " vs " $2; bad = 1 } }
			END { exit bad }' >&2 || return 1
		[ "$(echo "$a" | wc -l)" -eq "$(echo "$b" | wc -l)" ] ||
			{ echo "$key: $(echo "$a" | wc -l) lines against $(echo "$b" | wc -l)" >&2; return 1; }
	done
}

# records: snt-info's lines without the index and the shard key
records() {
	snt-info | cut -f2- | sed 's/ shard=[0-9]*\/[0-9]*//'
}

@test "musdb-cat shards: records r, r+N, ... of the one sequence, from --shard or the launcher" {
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 10 | records > all
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 10 --shard 1/3 > s.snt
	records < s.snt > got
	diff got <(sed -n '2p;5p;8p' all)
	[ "$(snt-info s.snt | grep -c 'shard=1/3')" -eq 3 ]
	# the launchers' variables give the same shard
	OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=3 musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 10 |
		records | diff got -
	PMI_RANK=1 PMI_SIZE=3 musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 10 | records | diff got -
	SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=3 musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 10 |
		records | diff got -
	# --skip counts records of the one sequence: 4 and 7 are shard 1/3's from 4
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" --skip 4 -n 6 --shard 1/3 | records |
		diff <(sed -n '5p;8p' all) -
	# whole tracks are not sharded: valid ignores the launcher
	PMI_RANK=1 PMI_SIZE=3 musdb-cat valid -r "$DS" | cmp - "$VALID"
	run -2 musdb-cat train -r "$DS" --shard 3/3
	assert_output --partial "--shard: '3/3' is not R/N with 0 <= R < N"
	run -2 musdb-cat valid -r "$DS" --shard 0/2
	assert_output --partial "--shard applies to training segments only"
	run -1 env OMPI_COMM_WORLD_RANK=2 OMPI_COMM_WORLD_SIZE=2 musdb-cat train -r "$DS" -n 1
	assert_output "musdb-cat: the launcher's OMPI_COMM_WORLD_RANK=2 and OMPI_COMM_WORLD_SIZE=2 are not a rank and a world size (or give --shard R/N)"
}

@test "2 ranks train as one process, step for step: dropout off, and on with accumulation, EMA and validation; the band-split model" {
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$FIX/tiny.ini' -n 80 |
		sepnet-train -c '$FIX/tiny.ini' -o two --valid '$VALID' --epoch-size 16 --steps 20 -q"
	same_steps "$BATS_FILE_TMPDIR/one" two
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$FIX/dropout.ini' -n 80 |
		sepnet-train -c '$FIX/dropout.ini' -o drop --valid '$VALID' --epoch-size 16 --steps 20 -q"
	same_steps "$BATS_FILE_TMPDIR/drop" drop
	grep -q '"valid_loss"' drop/metrics.jsonl
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$FIX/bs-dropout.ini' -n 40 |
		sepnet-train -c '$FIX/bs-dropout.ini' -o bs --valid '$VALID' --epoch-size 16 --steps 10 -q"
	same_steps "$BATS_FILE_TMPDIR/bs" bs
	# a file of unsharded records: each rank takes every other one
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 80 > train.snt
	ranks 2 sepnet-train -c "$FIX/tiny.ini" -o file --valid "$VALID" --epoch-size 16 --steps 20 -q train.snt
	same_steps "$BATS_FILE_TMPDIR/one" file
}

@test "only rank 0 writes: the run folder and the log are one process's" {
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$FIX/tiny.ini' -n 40 |
		sepnet-train -c '$FIX/tiny.ini' -o run --valid '$VALID' --epoch-size 16 --steps 10 --save-every 2" 2> log
	[ "$(ls run | tr '\n' ' ')" = "best.safetensors config.ini last.safetensors lock metrics.jsonl " ]
	[ "$(grep -c '"type":"step"' run/metrics.jsonl)" -eq 10 ]
	# one progress line per report, from rank 0 only
	grep -q '^sepnet-train\[rank 0\]: --steps reached at step 10' log
	run ! grep 'rank 1' log
	[ "$(grep -c 'parameters on cpu' log)" -eq 1 ]
}

@test "checkpoints move between rank counts: 2 ranks then 1, 1 then 2, the same 20 steps" {
	local C=$FIX/tiny.ini
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$C' -n 40 | sepnet-train -c '$C' -o a --valid '$VALID' --epoch-size 16 --steps 10 -q"
	musdb-cat train -r "$DS" -c "$C" --skip "$(sepnet-train --records -o a)" |
		sepnet-train --resume -o a --valid "$VALID" --epoch-size 16 --steps 20 -q
	same_steps "$BATS_FILE_TMPDIR/one" a
	musdb-cat train -r "$DS" -c "$C" -n 40 | sepnet-train -c "$C" -o b --valid "$VALID" --epoch-size 16 --steps 10 -q
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$C' --skip $(sepnet-train --records -o b) |
		sepnet-train --resume -o b --valid '$VALID' --epoch-size 16 --steps 20 -q"
	same_steps "$BATS_FILE_TMPDIR/one" b
}

@test "a killed rank ends the job within 10 s, naming it; the checkpoint is whole" {
	ranks 2 sh -c "musdb-cat train -r '$DS' -c '$FIX/dropout.ini' |
		sepnet-train -c '$FIX/dropout.ini' -o k -q --save-every 1 --steps 1000000" 2> log &
	local job=$! pid t0 rc=0
	for _ in $(seq 100); do
		[ -e k/last.safetensors ] && pid=$(pgrep -f '^sepnet-train -c .*-o k' | sort -n | tail -1) &&
			[ -n "$pid" ] && break
		sleep 0.1
	done
	[ -n "$pid" ]
	t0=$SECONDS
	kill -9 "$pid"
	wait "$job" || rc=$?
	[ "$rc" -ne 0 ]
	[ $((SECONDS - t0)) -le 10 ]
	grep -qE 'Process name: \[\[[0-9]+,[0-9]+\],[01]\]|rank [01]' log
	run ! pgrep -f '^sepnet-train -c .*-o k'
	sepnet-train --records -o k	# a whole checkpoint
}

@test "errors: batch_size not a multiple of the ranks, records of another shard, a launcher MPI does not see" {
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 8 > train.snt
	run ranks 3 sepnet-train -c "$FIX/tiny.ini" -o x -q train.snt
	[ "$status" -ne 0 ]
	assert_output --partial "batch_size 4 is not a multiple of the 3 ranks"
	[ ! -e x/last.safetensors ]
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 8 --shard 0/2 > shard.snt
	run -1 sepnet-train -c "$FIX/tiny.ini" -o y -q shard.snt
	assert_output --partial "record 0: shard=0/2, a shard of a 2-rank run, but sepnet-train runs as one process"
	run ranks 2 sepnet-train -c "$FIX/tiny.ini" -o z -q shard.snt
	[ "$status" -ne 0 ]
	assert_output --partial "sepnet-train[rank 1]: shard.snt: record 0: shard=0/2, but this is rank 1 of 2"
	run -1 env OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=2 \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 sepnet-train -c "$FIX/tiny.ini" -o w -q train.snt
	assert_output --partial "OMPI_COMM_WORLD_SIZE says rank 0 of 2 but MPI says 0 of 1"
}
