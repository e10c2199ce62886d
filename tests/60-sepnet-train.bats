#!/usr/bin/env bats
# sepnet-train at the command line: a short CPU training run on generated
# songs that must beat the untrained model on held-out songs, bit-exact
# resume, kill -9 during checkpoint writes, signals, the end of the input,
# records that do not fit, NaN steps, and the usage errors.
#
# Configs: tests/fixtures/train/tiny.ini (configs/tiny.ini made quick to
# train) and dropout.ini (every piece of training state in use, 4096-sample
# segments so steps take milliseconds).

load helper
bats_require_minimum_version 1.5.0

FIX=$ROOT/tests/fixtures/train

setup_file() {
	require make-dataset musdb-cat stft istft sisdr sepnet-fwd sepnet-train
	cd "$BATS_FILE_TMPDIR"
	# 8 songs of 5-6 s: the first 2 carry MUSDB validation names, so
	# musdb-cat keeps them out of the training split
	make-dataset --seed 3 --train 8 --test 0 --seconds 5 --valid-names 2 ds > /dev/null
	musdb-cat valid -r ds > valid.snt
	musdb-cat valid -r ds --mixture > mix.snt
	sed 's/^ema_decay = 0.9/ema_decay = 0/' "$FIX/dropout.ini" > noema.ini
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	DS=$BATS_FILE_TMPDIR/ds
	VALID=$BATS_FILE_TMPDIR/valid.snt
	NOEMA=$BATS_FILE_TMPDIR/noema.ini
}

# mean_sisdr MODEL: the mean over sources of sisdr's per-source means on
# the validation songs, separated by stft | sepnet-fwd | istft
mean_sisdr() {
	stft -c "$FIX/tiny.ini" "$BATS_FILE_TMPDIR/mix.snt" | sepnet-fwd -m "$1" | istft > est.snt
	sisdr "$VALID" est.snt | awk '/^mean/ { s += $NF; n++ } END { printf "%.3f\n", s / n }'
}

# json KEY LINE: a number from one metrics.jsonl line
json() {
	grep -oE "\"$1\":[^,}]*" <<<"$2" | cut -d: -f2
}

# nan_record: a stems record [4, 2, 4096] of 3e38 (f32 0x7f61b1e6): finite,
# so it is read, but the mixture overflows and the loss is NaN (a NaN
# record itself is refused on read)
nan_record() {
	record SNT1 $'dtype=f32\nshape=4,2,4096\nsources=drums,bass,other,vocals\nsr=44100\n' 0
	printf '\xe6\xb1\x61\x7f' > nan.bin
	for _ in $(seq 15); do cat nan.bin nan.bin > nan2.bin && mv nan2.bin nan.bin; done
	cat nan.bin
}

@test "tiny config on generated songs: the loss falls, validation beats the untrained model by 3 dB" {
	# a minute under ASan for steps that the shorter tests below run too
	[ -z "${SEPNET_SANITIZE:-}" ] || skip "a learning test: its steps are the others' (make check-sanitize)"
	musdb-cat train -r "$DS" -c "$FIX/tiny.ini" -n 1600 |
		sepnet-train -c "$FIX/tiny.ini" -o run --valid "$VALID" 2> log
	[ "$(grep -c '"type":"step"' run/metrics.jsonl)" -eq 400 ]
	[ "$(grep -c '"type":"epoch"' run/metrics.jsonl)" -eq 5 ]
	first=$(grep '"type":"epoch"' run/metrics.jsonl | head -1)
	last=$(grep '"type":"epoch"' run/metrics.jsonl | tail -1)
	best=$(grep '"best":true' run/metrics.jsonl | tail -1)

	sepnet-fwd --init -c "$FIX/tiny.ini" -o fresh.safetensors
	untrained=$(mean_sisdr fresh.safetensors)
	trained=$(mean_sisdr run/best.safetensors)
	echo "# train loss: epoch 1 $(json train_loss "$first"), epoch 5 $(json train_loss "$last")" >&3
	echo "# validation SI-SDR: untrained $untrained dB, trained $trained dB" \
		"(drums $(json valid_sisdr_drums "$best"), bass $(json valid_sisdr_bass "$best")," \
		"other $(json valid_sisdr_other "$best"), vocals $(json valid_sisdr_vocals "$best"))" >&3
	awk -v a="$(json train_loss "$first")" -v b="$(json train_loss "$last")" 'BEGIN { exit !(b < a) }'
	awk -v u="$untrained" -v t="$trained" 'BEGIN { exit !(t >= u + 3) }'
	# sepnet-train's own validation is the sepnet-fwd | sisdr pipeline's figure
	awk -v v="$(json valid_sisdr "$best")" -v t="$trained" 'BEGIN { exit !(v - t < 0.01 && t - v < 0.01) }'
	grep -q 'epoch 5 (step 400): train loss' log
	grep -q 'num_epochs reached at step 400' log
}

@test "resume: 8 steps straight equal 4 + resume + 4, bit for bit (dropout, EMA, accumulation)" {
	cfg=$FIX/dropout.ini
	musdb-cat train -r "$DS" -c "$cfg" -n 40 | sepnet-train -q -c "$cfg" -o a --valid "$VALID" --steps 8
	musdb-cat train -r "$DS" -c "$cfg" -n 40 | sepnet-train -q -c "$cfg" -o b --valid "$VALID" --steps 4
	run sepnet-train --records -o b
	assert_output 16
	musdb-cat train -r "$DS" -c "$cfg" -n 40 --skip "$(sepnet-train --records -o b)" |
		sepnet-train -q --resume -o b --valid "$VALID" --steps 8
	cmp a/last.safetensors b/last.safetensors
	cmp a/best.safetensors b/best.safetensors
	[ "$(grep -c '"type":"step"' b/metrics.jsonl)" -eq 8 ]
	# the comparison sees a difference: the same resume on the wrong records
	musdb-cat train -r "$DS" -c "$cfg" -n 40 | sepnet-train -q -c "$cfg" -o d --valid "$VALID" --steps 4
	musdb-cat train -r "$DS" -c "$cfg" -n 40 | sepnet-train -q --resume -o d --valid "$VALID" --steps 8
	! cmp -s a/last.safetensors d/last.safetensors
}

@test "kill -9 during checkpoint writes and at random moments leaves a loadable checkpoint" {
	sed 's/^num_epochs = 10/num_epochs = 1000000/' "$NOEMA" > long.ini
	musdb-cat train -r "$DS" -c long.ini -n 4 | sepnet-train -q -c long.ini -o k
	torn=0
	for i in $(seq 10); do
		lines=$(wc -l < k/metrics.jsonl)
		musdb-cat train -r "$DS" -c long.ini --seed "$i" |
			sepnet-train -q --resume -o k --save-every 1 &
		pid=$!
		# once it is taking steps (a step line more): at a random moment,
		# or (three rounds in four) as soon as a checkpoint's temporary file appears
		for _ in $(seq 200); do
			[ "$(wc -l < k/metrics.jsonl)" -gt "$lines" ] && break
			sleep 0.05
		done
		if ((i % 4)); then	# in a plain bash: bats' DEBUG trap slows loops
			# (a write missed in the spin is a kill at a random moment:
			# the spin must not fail the test and orphan the trainer)
			bash -c 'for ((j = 0; j < 200000; j++)); do
				[ -e "$1" ] && break; done; exit 0' _ "k/last.safetensors.tmp.$pid"
		else
			sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
		fi
		kill -9 "$pid"
		status=0
		wait "$pid" || status=$?
		[ "$status" -eq 137 ]	# killed, not failed to load the checkpoint
		sepnet-fwd --info -m k/last.safetensors > /dev/null
		ls k | grep -q '\.tmp\.' && torn=$((torn + 1))
	done
	echo "# kills that left a half-written temporary file: $torn of 10" >&3
	[ "$(sepnet-train --records -o k)" -gt 4 ]
	# a resumed run removes them
	musdb-cat train -r "$DS" -c long.ini -n 4 | sepnet-train -q --resume -o k
	[ "$(ls k | grep -c '\.tmp\.')" -eq 0 ]
}

@test "SIGTERM: the step ends, last.safetensors is written, the process dies of the signal" {
	musdb-cat train -r "$DS" -c "$NOEMA" | sepnet-train -c "$NOEMA" -o t 2> log &
	pid=$!
	for _ in $(seq 100); do
		[ "$(grep -c '"type":"step"' t/metrics.jsonl 2>/dev/null)" -ge 3 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 143 ]
	grep -q 'interrupted at step' log
	last=$(grep '"type":"step"' t/metrics.jsonl | tail -1)
	[ "$(sepnet-train --records -o t)" = "$(json records "$last")" ]
}

@test "the end of the input ends training cleanly with a final checkpoint" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 10 > ten.snt
	run --separate-stderr sepnet-train -c "$NOEMA" -o e ten.snt
	assert_success
	assert_equal "$output" ""
	[[ $stderr == *"end of the training records at step 2 (epoch 0, 8 records"* ]]
	run sepnet-train --records -o e
	assert_output 8
	sepnet-fwd --info -m e/last.safetensors > /dev/null
}

@test "no training records, or fewer than a step: an error" {
	run --separate-stderr sepnet-train -q -c "$NOEMA" -o e < /dev/null
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sepnet-train: <stdin>: 0 training records, fewer than one step of 4 (batch_size × gradient_accum)"
	[ ! -e e/last.safetensors ]
}

@test "records that do not fit the config are refused, naming the record" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 3 > good.snt
	musdb-cat train -r "$DS" -l 2048 -n 1 > short.snt
	head=$'dtype=f32\nshape=4,2,4096\nsources=drums,bass,other,vocals\nsr=44100\n'
	{ cat good.snt; record SNT1 "${head/44100/48000}" 131072; } > sr.snt
	{ cat good.snt; record SNT1 "${head/4,2,/4,1,}" 65536; } > mono.snt
	{ cat good.snt; record SNT1 "${head/drums,bass/bass,drums}" 131072; } > order.snt
	{ cat good.snt short.snt; } > length.snt
	for f in sr mono order length; do
		run --separate-stderr sepnet-train -q -c "$NOEMA" -o "$f" "$f.snt"
		assert_failure 1
		assert_equal "$output" ""
		case $f in
		sr) want="sr=48000, the model's sample_rate is 44100" ;;
		mono) want="1 channels, the model takes 2" ;;
		order) want="sources=bass,drums,other,vocals, the model's sources are drums,bass,other,vocals" ;;
		length) want="2048 samples, shorter than the config's segment_length 4096 (musdb-cat train -c CONFIG makes segments of that length)" ;;
		esac
		assert_equal "$stderr" "sepnet-train: $f.snt: record 3: $want"
		[ ! -e "$f/last.safetensors" ]
	done
}

@test "longer records: a window of segment_length from the header and seed, the epoch scaled, -o's parents made" {
	musdb-cat train -r "$DS" -l 8192 -n 8 > long.snt
	sepnet-train -q -c "$NOEMA" -o deep/er/a --steps 2 long.snt
	sepnet-train -q -c "$NOEMA" -o b --steps 2 long.snt
	# the same records give the same windows: bit-identical weights
	cmp deep/er/a/last.safetensors b/last.safetensors
	musdb-cat train -r "$DS" -c "$NOEMA" -n 8 > exact.snt
	sepnet-train -q -c "$NOEMA" -o c --steps 2 exact.snt
	! cmp -s b/last.safetensors c/last.safetensors
	# musdb-cat counted 8192-sample segments: the epoch holds twice as many of 4096
	n=$(snt-info long.snt | head -1 | sed 's/.*epoch_size=\([0-9]*\).*/\1/')
	sed 's/^epoch_size = .*/epoch_size = 0/' "$NOEMA" > e0.ini
	run --separate-stderr sepnet-train -c e0.ini -o d --steps 1 long.snt
	assert_success
	[[ $stderr == *" $((n * 2)) records per epoch"* ]]
}

@test "--steps on the command line wins over num_epochs: a finished run resumed goes on" {
	sed 's/^num_epochs = .*/num_epochs = 1/' "$NOEMA" > one.ini
	musdb-cat train -r "$DS" -c one.ini -n 40 > recs.snt
	run --separate-stderr sepnet-train -c one.ini -o f --epoch-size 8 recs.snt
	assert_success
	[[ $stderr == *"num_epochs reached at step 2 "* ]]
	run --separate-stderr sepnet-train --resume -o f --epoch-size 8 --steps 5 recs.snt
	assert_success
	[[ $stderr == *"--steps reached at step 5 "* ]]
}

@test "a record holding NaN or infinity is refused on read, naming it" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 4 > good.snt
	record SNT1 $'dtype=f32\nshape=4,2,4096\nsources=drums,bass,other,vocals\nsr=44100\n' 0 > inf.snt
	{ head -c 1000 /dev/zero; printf '\x00\x00\x80\x7f'; head -c $((131072 - 1004)) /dev/zero; } >> inf.snt
	cat good.snt inf.snt > bad.snt
	run --separate-stderr sepnet-train -q -c "$NOEMA" -o r bad.snt
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sepnet-train: bad.snt: record 4: NaN or infinity at value 250 (training records must be finite)"
	[ ! -e r/last.safetensors ]
}

@test "NaN steps are skipped and logged; max_bad_steps in a row stop without a new checkpoint" {
	sed 's/^max_bad_steps = 10/max_bad_steps = 3/' "$NOEMA" > bad.ini
	musdb-cat train -r "$DS" -c bad.ini -n 4 > a.snt
	musdb-cat train -r "$DS" -c bad.ini -n 2 --skip 4 > b.snt
	musdb-cat train -r "$DS" -c bad.ini -n 4 --skip 6 > c.snt
	nan_record > nan.snt
	# steps of 4 records: good; 2 good + 2 NaN (skipped); good; 3 of NaN
	# (skipped, the third in a row stops); good (not reached)
	{ cat a.snt b.snt nan.snt nan.snt c.snt
	  for _ in $(seq 12); do cat nan.snt; done
	  cat a.snt; } > mixed.snt
	[ "$(snt-info mixed.snt | wc -l)" -eq 28 ]
	run --separate-stderr sepnet-train -c bad.ini -o n --save-every 1 mixed.snt
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == *"step 2 skipped: loss nan"* ]]
	[[ $stderr == *"sepnet-train: 3 steps in a row with a NaN or Inf loss or gradient (max_bad_steps 3): stopping; n/last.safetensors is the last good checkpoint" ]]
	[ "$(grep -c '"skipped":true' n/metrics.jsonl)" -eq 4 ]
	[ "$(grep -c '"type":"step"' n/metrics.jsonl)" -eq 6 ]
	run sepnet-train --records -o n
	assert_output 12	# after the third step, the second good one
	sepnet-fwd --info -m n/last.safetensors > /dev/null
}

@test "an existing run is not overwritten; --resume needs one" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 4 > four.snt
	sepnet-train -q -c "$NOEMA" -o r four.snt
	run --separate-stderr sepnet-train -c "$NOEMA" -o r four.snt
	assert_failure 1
	assert_equal "$stderr" "sepnet-train: r/last.safetensors: a run is there already: --resume continues it"
	run --separate-stderr sepnet-train --resume -o none four.snt
	assert_failure 1
	assert_equal "$stderr" "sepnet-train: none/last.safetensors: no checkpoint to resume from"
	run --separate-stderr sepnet-train --records -o none
	assert_failure 1
	[[ $stderr == "sepnet-train: none/last.safetensors: "* ]]
}

@test "metrics.jsonl, config.ini, progress lines, and -q" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 40 > forty.snt
	run --separate-stderr sepnet-train -c "$NOEMA" -o m --valid "$VALID" --log-every 2 forty.snt
	assert_success
	assert_equal "$output" ""
	[[ $stderr == *"sepnet-train: epoch 1 (step 3): train loss "*", valid loss "*" SI-SDR "*" dB (drums "*", bass "*", other "*", vocals "*")"* ]]
	[ "$(grep -c '"type":"step"' m/metrics.jsonl)" -eq 5 ]	# steps 2, 4, ..., 10
	line=$(grep '"type":"step"' m/metrics.jsonl | head -1)
	for k in step epoch records loss sisdr sisdr_vocals l1 spectral lr grad_norm examples_per_s; do
		[ -n "$(json $k "$line")" ] || fail "no $k in $line"
	done
	[ "$(json step "$line")" = 2 ] && [ "$(json records "$line")" = 8 ]
	line=$(grep '"type":"epoch"' m/metrics.jsonl | head -1)
	for k in train_loss valid_loss valid_sisdr valid_sisdr_drums valid_l1 valid_spectral best lr; do
		[ -n "$(json $k "$line")" ] || fail "no $k in $line"
	done
	grep -q '^segment_length = 4096$' m/config.ini
	run --separate-stderr sepnet-train -q -c "$NOEMA" -o q forty.snt
	assert_success
	assert_equal "$stderr" ""
}

@test "on a terminal the progress line is redrawn in place" {
	require script
	musdb-cat train -r "$DS" -c "$NOEMA" -n 400 > many.snt
	script -qec "sepnet-train -c '$NOEMA' -o tty many.snt" /dev/null > typescript
	grep -q $'\rsepnet-train: epoch [0-9]*/10 step [0-9]*/30 loss .* ex/s ETA [0-9:]*\e\[K' typescript
}

@test "examples/plot-metrics -s: a gnuplot script with the run's data" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 24 | sepnet-train -q -c "$NOEMA" -o p --valid "$VALID"
	run --separate-stderr "$ROOT/examples/plot-metrics" -s p
	assert_success
	assert_line 'set output "p/metrics.png"'
	assert_line --regexp '^1 [-0-9.e]+$'	# step 1's loss
	assert_line --regexp '^2 [-0-9.e]+ [-0-9.e]+ [-0-9.e]+ [-0-9.e]+ [-0-9.e]+ [-0-9.e]+$'
	assert_line --partial '$epochs using 1:7 with linespoints title "vocals"'
	require gnuplot
	"$ROOT/examples/plot-metrics" p
	[ "$(head -c 4 p/metrics.png | tail -c 3)" = PNG ]
}

@test "examples/plot-metrics: a run without validation, and a machine without gnuplot" {
	musdb-cat train -r "$DS" -c "$NOEMA" -n 24 | sepnet-train -q -c "$NOEMA" -o nv
	require gnuplot
	run --separate-stderr "$ROOT/examples/plot-metrics" nv
	assert_success
	assert_equal "$stderr" ""
	assert_output nv/metrics.png
	[ "$(head -c 4 nv/metrics.png | tail -c 3)" = PNG ]
	path_without nognuplot gnuplot
	run --separate-stderr env PATH="$PWD/nognuplot" "$ROOT/examples/plot-metrics" -o x.png nv
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "plot-metrics: x.png skipped, gnuplot not found (as root: apt-get install gnuplot-nox; then gnuplot x.gp)"
	[ ! -e x.png ]
	grep -qx 'set output "x.png"' x.gp
}

@test "-h, --version, usage errors and devices" {
	run sepnet-train -h
	assert_success
	assert_line --index 0 --partial 'usage: sepnet-train -c CONFIG -o DIR'
	run sepnet-train --version
	assert_output --regexp '^sepnet-train [0-9]+\.[0-9]+'
	run --separate-stderr sepnet-train -c "$NOEMA"
	assert_failure 2
	assert_equal "$stderr" "sepnet-train: no output directory: -o DIR"
	run --separate-stderr sepnet-train -o x
	assert_failure 2
	assert_equal "$stderr" "sepnet-train: no config: -c CONFIG"
	run --separate-stderr sepnet-train -c "$NOEMA" -o x --steps 0
	assert_failure 2
	assert_equal "$stderr" "sepnet-train: --steps: an integer >= 1, not '0'"
	run --separate-stderr sepnet-train -c "$NOEMA" -o x -d cuda
	assert_failure 1
	# a CPU-only build, or a CUDA build on a machine without a GPU (CI
	# compiles one when nvcc is there); nothing written
	[[ $stderr == "sepnet-train: -d cuda: this binary was built without CUDA (build with nvcc on the PATH)" ||
	   $stderr == "sepnet-train: -d cuda: no CUDA device found ("*")" ]]
	[ ! -e x ]
	run --separate-stderr sepnet-train -c "$NOEMA" -o x -d tpu
	assert_failure 2
	assert_equal "$stderr" "sepnet-train: -d tpu: the devices are cpu and cuda"
	run --separate-stderr sepnet-train -c "$NOEMA" -o x --valid missing.snt < /dev/null
	assert_failure 1
	assert_equal "$stderr" "sepnet-train: missing.snt: No such file or directory"
	[ ! -e x ]
	sed 's/^epoch_size = 12/epoch_size = 0/' "$NOEMA" > zero.ini
	nan_record > one.snt
	run --separate-stderr sepnet-train -c zero.ini -o x < one.snt
	assert_failure 1
	[[ $stderr == *"<stdin>: record 0: the config's epoch_size is 0 (as many segments as the training tracks hold) and the record has no epoch_size key (musdb-cat train writes one): give --epoch-size N" ]]
}

@test "epoch_size 0 in the config: the epoch is the segments musdb-cat says the tracks hold" {
	sed 's/^epoch_size = 12/epoch_size = 0/' "$NOEMA" > zero.ini
	musdb-cat train -r "$DS" -c zero.ini -n 1 | snt-info > info.txt
	n=$(grep -o 'epoch_size=[0-9]*' info.txt | cut -d= -f2)
	[ "$n" -gt 0 ]
	musdb-cat train -r "$DS" -c zero.ini -n 8 | sepnet-train -c zero.ini -o z --steps 1 2> err.txt
	grep -q "$n records per epoch" err.txt
}

@test "with EMA on, last.safetensors (weights, moments, ema.*) is a model for sepnet-fwd" {
	musdb-cat train -r "$DS" -c "$FIX/dropout.ini" -n 8 | sepnet-train -q -c "$FIX/dropout.ini" -o e --steps 2
	run sepnet-fwd --info -m e/last.safetensors
	assert_success
	stft -c "$FIX/dropout.ini" "$BATS_FILE_TMPDIR/mix.snt" | sepnet-fwd -m e/last.safetensors | snt-info > out.txt
	grep -q 'sources=drums,bass,other,vocals' out.txt
}
