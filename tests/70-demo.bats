#!/usr/bin/env bats
# make demo: examples/demo.sh with the bundled model on a short generated
# song (stems written, readable, better than the do-nothing baseline), its
# picture, and the helpers behind them (spec-dump, model-export).

load helper
bats_require_minimum_version 1.5.0

MODEL=$ROOT/models/demo.safetensors

setup_file() {
	require make-dataset spec-dump model-export stft istft sisdr sepnet-fwd sox soxi gnuplot file
	cd "$BATS_FILE_TMPDIR"
	# the demo on a 4-5 s song of a seed the model was not trained on
	BINDIR=$SEPNET_BIN OBJDIR=$(dirname "$SEPNET_TESTBIN") \
		"$ROOT/examples/demo.sh" -s 4242 -d 4 -o demo > demo.out 2> demo.err
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	DEMO=$BATS_FILE_TMPDIR/demo
	OUT=$BATS_FILE_TMPDIR/demo.out
}

@test "demo.sh: every stem is a stereo 44.1 kHz WAV that sox reads, as long as the song" {
	[ ! -s "$BATS_FILE_TMPDIR/demo.err" ] || cat "$BATS_FILE_TMPDIR/demo.err"
	n=$(soxi -s "$DEMO/song/mixture.wav")
	for s in drums bass other vocals; do
		[ "$(soxi -t "$DEMO/$s.wav")" = wav ]
		[ "$(soxi -r "$DEMO/$s.wav")" = 44100 ]
		[ "$(soxi -c "$DEMO/$s.wav")" = 2 ]
		[ "$(soxi -s "$DEMO/$s.wav")" = "$n" ]
		sox "$DEMO/$s.wav" -n stat 2> /dev/null
	done
}

@test "demo.sh: the bundled model beats the do-nothing baseline in mean SI-SDR" {
	cat "$OUT" >&3
	run awk '$1 == "mean" { print $2, $3 }' "$OUT"
	read -r model baseline <<<"$output"
	[ -n "$model" ] && [ -n "$baseline" ]
	awk -v m="$model" -v b="$baseline" 'BEGIN { exit !(m > b) }'
	# the table is sisdr's figures: recompute the drums' model value
	want=$(sisdr --csv "$DEMO/song/drums.wav" "$DEMO/drums.wav" | awk -F, 'NR == 2 { printf "%.2f", $3 }')
	run awk '$1 == "drums" { print $2 }' "$OUT"
	assert_output "$want"
}

@test "demo.sh: the picture is a PNG of five panels" {
	run file "$DEMO/spectrograms.png"
	assert_output --partial 'PNG image data, 1200 x 1210'
	grep -q "^spectrograms: demo/spectrograms.png$" "$OUT"
}

@test "demo.sh without gnuplot: exit 0, the four stems, a one-line notice, no picture" {
	path_without nognuplot gnuplot
	run --separate-stderr env PATH="$PWD/nognuplot" BINDIR="$SEPNET_BIN" OBJDIR="$(dirname "$SEPNET_TESTBIN")" \
		"$ROOT/examples/demo.sh" -s 4242 -d 2 -o demo
	assert_success
	assert_equal "$stderr" ""
	for s in drums bass other vocals; do [ -s "demo/$s.wav" ]; done
	assert_line --regexp '^mean +[-0-9.]+ +[-0-9.]+ +[-+0-9.]+$'
	assert_line --index $((${#lines[@]} - 1)) \
		"spectrograms: skipped, gnuplot not found (as root: apt-get install gnuplot-nox, or make deps)"
	[ ! -e demo/spectrograms.png ]
}

@test "the bundled model is stored in F16 and under 10 MB; the loader reads it" {
	run model-export --dtype "$MODEL"
	assert_output F16
	[ "$(stat -c %s "$MODEL")" -lt 10000000 ]
	sepnet-fwd --info -m "$MODEL" | grep -qx 'stored F16'
}

@test "model-export: strips the moments, F16 and BF16 load back close to F32" {
	sepnet-fwd --init -c "$ROOT/configs/tiny.ini" -o init.safetensors
	make_wav song.wav 1
	stft -c "$ROOT/configs/tiny.ini" song.wav > spec.snt
	sepnet-fwd -m init.safetensors spec.snt | istft > ref.snt
	for t in f32 f16 bf16; do
		run model-export -t $t init.safetensors $t.safetensors
		assert_success
		assert_output "init.safetensors: F32 -> $t.safetensors: ${t^^}, $(sepnet-fwd --info -m init.safetensors | awk '$1 == "parameters" { print $2 }') parameters"
		sepnet-fwd -m $t.safetensors spec.snt | istft > $t.snt
	done
	snt-cmp -t 0 ref.snt f32.snt
	snt-cmp -t 1e-3 ref.snt f16.snt
	snt-cmp -t 1e-2 ref.snt bf16.snt
	! snt-cmp -t 0 ref.snt f16.snt > /dev/null
	[ "$(stat -c %s f16.safetensors)" -lt "$(stat -c %s f32.safetensors)" ]
	run --separate-stderr model-export -t f8 init.safetensors x.safetensors
	assert_failure 2
	assert_equal "$output" ""
	assert_equal "$stderr" "model-export: -t: f32, f16 or bf16, not 'f8'"
}

@test "spec-dump: a gnuplot binary matrix in seconds and kHz with the tone's peak at its bin" {
	sox -r 8000 -c 2 -n -b 32 -e floating-point tone.wav synth 1 sine 1000
	stft -n 256 -H 64 tone.wav | spec-dump > m.bin
	# 126 frames, 129 bins: a first row of 127 floats, then 129 rows of 127
	[ "$(stat -c %s m.bin)" -eq $((4 * 127 * 130)) ]
	run od -An -v -f -w508 -N508 m.bin
	read -r -a row <<<"$output"
	[ "${row[0]}" = 126 ] && [ "${row[1]}" = 0 ] && [ "${row[2]}" = 0.008 ]
	# 1000 Hz is bin 32: the loudest row of a middle frame (column 64)
	run sh -c "od -An -v -f -w508 -j508 m.bin | awk '\$65 > m || NR == 1 { m = \$65; f = \$1 } END { print f }'"
	assert_output 1
	stft -n 256 -H 64 tone.wav | spec-dump -f 2000 > cut.bin
	[ "$(stat -c %s cut.bin)" -eq $((4 * 127 * 66)) ]	# bins 0..64: up to 2000 Hz
}

@test "spec-dump: planes through the stream, errors" {
	make_wav a.wav 0.1
	stft -n 256 -H 64 a.wav a.wav > two.snt
	spec-dump -p 1 two.snt > /dev/null
	run --separate-stderr spec-dump -p 2 two.snt
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "spec-dump: two.snt: plane 2 asked for, the stream has 2"
	run --separate-stderr spec-dump a.wav
	assert_failure 1
	assert_equal "$output" ""
	run --separate-stderr sh -c 'stft -n 256 -H 64 a.wav | istft | spec-dump'
	assert_failure 1
	assert_equal "$stderr" "spec-dump: <stdin>: record 0: not a spectrogram (c64 [C, F, T] or [S, C, F, T])"
	run --separate-stderr spec-dump -p -1 two.snt
	assert_failure 2
	assert_equal "$stderr" "spec-dump: -p: a plane number >= 0, not '-1'"
}

@test "heldout.sh: a table per stem beside doing nothing, with and without --wiener" {
	make-dataset --seed 31 --train 0 --test 2 --seconds 3 ds > /dev/null
	run "$ROOT/examples/heldout.sh" -m demo -r ds -w "0 1" -o ev
	assert_success
	assert_line --index 0 --regexp '^model demo on 2 songs of ds/test \([0-9.]+ s\), mean SI-SDR in dB$'
	assert_line --index 1 --regexp '^stem +nothing +wiener 0 +gain +wiener 1 +gain$'
	for s in drums bass other vocals mean; do
		assert_line --regexp "^$s +-?[0-9]+\.[0-9]{2}( +-?[0-9]+\.[0-9]{2} +[+-][0-9]+\.[0-9]{2}){2}\$"
	done
	assert_line --regexp '^--wiener 1: [0-9.]+ s for [0-9]+ s of audio'
	[ -s ev/w1/2/vocals.wav ]
}

@test "demo.sh and spectrogram-plot: usage errors" {
	run --separate-stderr "$ROOT/examples/heldout.sh" extra
	assert_failure 2
	assert_equal "$stderr" 'usage: heldout.sh [-m MODEL] [-r ROOT] [-w "0 1"] [-n SONGS] [-s SECONDS] [-o DIR]'
	run --separate-stderr "$ROOT/examples/default-model.sh" -n 0
	assert_failure 2
	assert_equal "$stderr" "default-model.sh: -n: a positive step count, not '0'"
	run --separate-stderr "$ROOT/examples/demo.sh" extra
	assert_failure 2
	assert_equal "$stderr" "usage: demo.sh [-m MODEL] [-s SEED] [-d SECONDS] [-o DIR]"
	run --separate-stderr "$ROOT/examples/spectrogram-plot" -o x.png
	assert_failure 2
	[ ! -e x.png ]
}
