#!/usr/bin/env bats
# 66-bsroformer: the band-split model (arch = bsroformer, docs/DESIGN.md §4)
# through the same commands as the transformer: train with validation,
# resume bit for bit, separate (stft | sepnet-fwd | istft, and waveforms),
# evaluate (sisdr), its parameter count, and a checkpoint that cannot serve
# the other architecture's config.  Its numerics are tested in
# tests/unit/test_model.c (against the bs-roformer package) and
# test_gradcheck.c (finite differences).

load helper
bats_require_minimum_version 1.5.0

FIX=$ROOT/tests/fixtures/train

setup_file() {
	require make-dataset musdb-cat stft istft sisdr sepnet-fwd sepnet-train
	cd "$BATS_FILE_TMPDIR"
	make-dataset --seed 5 --train 6 --test 0 --seconds 3 --valid-names 2 ds > /dev/null
	musdb-cat valid -r ds > valid.snt
	musdb-cat valid -r ds --mixture > mix.snt
	cfg=$FIX/bs-dropout.ini
	musdb-cat train -r ds -c "$cfg" -n 40 | sepnet-train -q -c "$cfg" -o run --valid valid.snt --steps 8
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	DS=$BATS_FILE_TMPDIR/ds
	VALID=$BATS_FILE_TMPDIR/valid.snt
	RUN=$BATS_FILE_TMPDIR/run
}

@test "bsroformer trains and validates: 8 steps, 2 validations of four stems, best and last" {
	[ "$(grep -c '"type":"step"' "$RUN/metrics.jsonl")" -eq 8 ]
	[ "$(grep -c '"type":"epoch"' "$RUN/metrics.jsonl")" -eq 2 ]
	grep '"type":"epoch"' "$RUN/metrics.jsonl" | tail -1 | grep -q '"valid_sisdr_vocals":-\?[0-9]'
	! grep -q nan "$RUN/metrics.jsonl"
	sepnet-fwd --info -m "$RUN/best.safetensors" > info
	grep -qx 'arch = bsroformer' info
	grep -qx 'parameters 1348300' info	# config_param_count: configs/bs-tiny.ini's comment
}

@test "bsroformer resume: 8 steps straight equal 4 + resume + 4, bit for bit (dropout, EMA, accumulation)" {
	cfg=$FIX/bs-dropout.ini
	musdb-cat train -r "$DS" -c "$cfg" -n 40 | sepnet-train -q -c "$cfg" -o b --valid "$VALID" --steps 4
	musdb-cat train -r "$DS" -c "$cfg" -n 40 --skip "$(sepnet-train --records -o b)" |
		sepnet-train -q --resume -o b --valid "$VALID" --steps 8
	cmp "$RUN/last.safetensors" b/last.safetensors
	cmp "$RUN/best.safetensors" b/best.safetensors
}

@test "bsroformer separates and is evaluated like the transformer: spectrograms and waveforms agree, sisdr scores it" {
	stft -c "$FIX/bs-dropout.ini" "$BATS_FILE_TMPDIR/mix.snt" | sepnet-fwd -m "$RUN/best.safetensors" |
		istft > est.snt
	run sisdr "$VALID" est.snt
	assert_success
	[ "$(grep -c '^mean' <<<"$output")" -eq 4 ]
	# sepnet-fwd on the waveforms: the same stems (its own STFT and iSTFT)
	sepnet-fwd -m "$RUN/best.safetensors" "$BATS_FILE_TMPDIR/mix.snt" > wave.snt
	run sisdr est.snt wave.snt
	assert_success
	awk '/^mean/ { if ($NF < 80) bad = 1 } END { exit bad }' <<<"$output"
}

@test "a bsroformer checkpoint refuses a transformer config on resume, naming the key" {
	mkdir r && cp "$RUN/last.safetensors" "$RUN/config.ini" r/
	cp "$RUN"/metrics.jsonl r/ 2> /dev/null || true
	run --separate-stderr sepnet-train --resume -o r -c "$FIX/dropout.ini" --steps 9 < /dev/null
	assert_failure
	assert_regex "$stderr" 'config key arch differs from the model'
}
