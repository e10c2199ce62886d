#!/usr/bin/env bats
# examples/experiment: the Makefile experiment on a generated dataset with
# tiny settings: the table's numbers are sisdr's, make -q is up to date
# after a run, touching one config redoes only its chain, a raised STEPS
# resumes, SWEEP derives configs.

load helper
bats_require_minimum_version 1.5.0

EXP=$ROOT/examples/experiment

setup_file() {
	require make-dataset musdb-cat sepnet-train sepnet-fwd sisdr make
	cd "$BATS_FILE_TMPDIR"
	make-dataset --seed 3 --train 2 --test 2 --seconds 3 --valid-names 1 ds > /dev/null
	# two small configs: tiny with short epochs, and a narrower one
	sed 's/^epoch_size = .*/epoch_size = 8/' "$ROOT/configs/tiny.ini" > a.ini
	sed 's/^emb_dim = .*/emb_dim = 16/; s/^attention_dim = .*/attention_dim = 16/' a.ini > b.ini
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

mk() {
	make -f "$EXP/Makefile" BIN="$SEPNET_BIN" ROOT="$BATS_FILE_TMPDIR/ds" \
		CONFIGS="$BATS_FILE_TMPDIR/a.ini $BATS_FILE_TMPDIR/b.ini" "$@"
}

@test "experiment: two configs end to end, a table of sisdr's numbers and a plot" {
	run mk STEPS=4 -j2
	assert_success
	[ -f build/results.md ] && [ -f build/runs/a/best.safetensors ]
	grep -q '^| a | 185424 | 4 | ' build/results.md
	grep -q '^| b | [0-9]* | 4 | ' build/results.md
	# the SDR columns are the medians sisdr --bss --tracks prints (to 3
	# decimals there, 2 here: within 0.006)
	for r in a b; do
		want=$(sisdr --bss --tracks ds/test "build/est/$r" | awk '$1 == "median" { printf "%s ", $5 }')
		got=$(awk -F'|' -v r=" $r " '$2 == r { print $6, $7, $8, $9 }' build/results.md)
		awk -v g="$got" -v w="$want" 'BEGIN { n = split(g, a, " "); split(w, b, " ")
			for (i = 1; i <= 4; i++) if (n != 4 || a[i] - b[i] > 0.006 || b[i] - a[i] > 0.006) exit 1 }' ||
			fail "$r: table $got, sisdr $want"
	done
	# the SI-SDR column is the mean of sisdr's per-track values
	want=$(sisdr --csv ds/test build/est/a | awk -F, 'NR > 1 { s += $3; n++ } END { printf "%.2f", s / n }')
	[ "$(awk -F'|' '$2 == " a " { print $11 }' build/results.md | tr -d ' ')" = "$want" ]
	run file build/results.png
	assert_output --partial 'PNG image data, 900 x 500'
}

@test "experiment: up to date after a run; touching one config redoes its chain only" {
	run mk -q STEPS=4
	assert_success
	sleep 1
	touch a.ini
	run mk -n STEPS=4
	assert_output --partial 'build/runs/a'
	refute_output --partial 'build/runs/b'
	refute_output --partial 'est/b'
	mk STEPS=4 > /dev/null
	run mk -q STEPS=4
	assert_success
}

@test "experiment: a raised STEPS resumes every run; an interrupted run resumes" {
	run mk STEPS=8
	assert_success
	assert_line "train.sh: resuming build/runs/a after 16 records"
	assert_line "train.sh: resuming build/runs/b after 16 records"
	grep -q '^| a | 185424 | 8 | ' build/results.md
	# as if killed after its checkpoint: the stamp gone, last.safetensors there
	rm build/runs/b/trained
	run mk STEPS=8
	assert_success
	assert_line "train.sh: resuming build/runs/b after 32 records"
	refute_output --partial 'runs/a'
}

@test "experiment: SWEEP derives a config per value; an unknown key fails naming it" {
	run mk CONFIGS="$BATS_FILE_TMPDIR/a.ini" STEPS=2 SWEEP=learning_rate=0.003,0.0003 OUT=sweep
	assert_success
	grep -qx 'learning_rate = 0.003' sweep/configs/a-learning_rate-0.003.ini
	grep -q '^| a-learning_rate-0.0003 | ' sweep/results.md
	run mk CONFIGS="$BATS_FILE_TMPDIR/a.ini" STEPS=2 SWEEP=nokey=1 OUT=sweep2
	assert_failure
	assert_output --partial "SWEEP: $BATS_FILE_TMPDIR/a.ini: no key nokey"
	run mk ROOT=/nonexistent STEPS=2
	assert_failure
	assert_output --partial 'ROOT=/nonexistent: musdb-cat list failed'
}
