#!/usr/bin/env bats
# sisdr at the command line: the three metrics on audio files, SNT streams
# and MUSDB-style folders, the table/CSV/JSON formats, BSSEval v4 against
# museval's golden numbers (tests/golden/bss-*.txt) through WAV files, and
# every error path (exit status, one line on stderr, nothing on stdout).

load helper

setup() {
	require sisdr test_metrics sox
	cd "$BATS_TEST_TMPDIR"
}

# noise.wav: 1 s of repeatable stereo noise at 8 kHz, f32
noise_wav() {	# path [channels] [seconds] [rate]
	sox -R -n -r "${4:-8000}" -c "${2:-2}" -b 32 -e floating-point "$1" synth "${3:-1}" whitenoise gain -6
}

# snt_write 'key=value\n...' RAW... > out: one SNT record, payload from RAW files
snt_write() {
	local text=$1 H
	shift
	H=$(( (8 + ${#text} + 63) / 64 * 64 - 8 ))
	printf 'SNT1'
	printf "\\x$(printf %02x $((H & 255)))\\x$(printf %02x $((H >> 8 & 255)))\\x00\\x00"
	printf '%s' "$text"
	head -c $((H - ${#text})) /dev/zero | tr '\0' '\n'
	cat "$@"
}

# value TRACK SOURCE COLUMN: a number from a --csv output in $output
value() {
	awk -F, -v t="$1" -v s="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
		$1 == t && $2 == s { print $col[c] }' <<<"$output"
}

@test "-h prints the usage on stdout, --version the version" {
	run --separate-stderr sisdr -h
	assert_success
	assert_output --partial 'usage: sisdr'
	run sisdr --version
	assert_output "sisdr 0.1.0"
}

@test "usage errors exit 2 with one line and nothing on stdout" {
	for args in "" "a.wav" "a b c" "--usdr --bss a b" "--csv --json a b" "--win 100 a b" \
		"--bss --win 0 a b" "--bss --hop x a b" "--frames a b" "--bogus a b"; do
		run --separate-stderr sisdr $args
		assert_failure 2
		assert_output ""
		[ "${#stderr_lines[@]}" -eq 1 ]
	done
}

@test "SI-SDR ignores the scale, uSDR does not" {
	noise_wav s.wav
	sox s.wav e.wav vol 0.5
	# identical up to the scale: finite, limited by eps = 1e-8 (|s|^2 ~ 200)
	run sisdr --csv s.wav s.wav
	assert_success
	assert_line --index 0 'track,source,SI-SDR'
	[ "$(awk -F, 'NR == 2 { print ($3 > 80 && $3 < 200) }' <<<"$output")" = 1 ]
	run sisdr --csv s.wav e.wav
	[ "$(awk -F, 'NR == 2 { print ($3 > 80 && $3 < 200) }' <<<"$output")" = 1 ]
	run sisdr --usdr --csv s.wav e.wav
	assert_line --index 0 'track,source,uSDR'
	# |s|^2 / |s/2|^2: 6.0206 dB (the 1e-7 terms are far below)
	assert_line --index 1 's,s,6.020600'
}

@test "the table: track, source, value, then the median and mean over tracks" {
	noise_wav s.wav
	sox s.wav e.wav vol 0.5
	run --separate-stderr sisdr --usdr s.wav e.wav
	assert_success
	assert_line --index 0 --regexp '^track +source +uSDR$'
	assert_line --index 1 --regexp '^s +s +6\.021$'
	assert_line --index 2 --regexp '^median \(1 track\) +s +6\.021$'
	assert_line --index 3 --regexp '^mean \(1 track\) +s +6\.021$'
	assert_equal "$stderr" ""
}

@test "--bss on WAV folders equals museval per window within 0.01 dB" {
	for case in "mix4 6000 6000" "silent 5000 3500" "noise 2500 2500"; do
		set -- $case
		test_metrics --dump-bss-wav "$1" "$1"
		run --separate-stderr sisdr --bss --win "$2" --hop "$3" --frames --csv "$1/ref" "$1/est"
		assert_success
		# csv: track,source,window,start,SDR,ISR,SIR,SAR; golden: window source SDR ISR SIR SAR
		awk -v out="$output" 'BEGIN {
			n = split(out, lines, "\n")
			for (i = 2; i <= n; i++) { split(lines[i], f, ","); sub(/^s/, "", f[2]); got[f[3] " " f[2]] = lines[i] }
		}
		/^#/ { next }
		{
			key = $1 " " $2
			if (!(key in got)) { print "missing window " key; bad = 1; next }
			split(got[key], f, ",")
			for (m = 0; m < 4; m++) {
				g = f[5 + m]; w = $(3 + m)
				if (w == "nan" || g == "nan") { if (w != g) { print key ": " g " vs " w; bad = 1 } }
				else if ((g - w) > 0.01 || (w - g) > 0.01) { print key ": " g " vs " w; bad = 1 }
			}
			rows++
		}
		END { if (rows != n - 1) { print rows " golden rows, " n - 1 " measured"; bad = 1 }; exit bad }' \
			"$ROOT/tests/golden/bss-$1.txt"
	done
}

@test "--bss medians ignore NaN windows; --json carries medians, windows and the aggregate" {
	test_metrics --dump-bss-wav d silent
	run --separate-stderr sisdr --bss --win 5000 --hop 3500 --json d/ref d/est
	assert_success
	assert_output --partial '"metric": "bss"'
	assert_output --partial '{"track": "silent", "source": "s0", "SDR": 3.28'
	assert_output --partial '"windows": 6'
	assert_output --partial '"aggregate": ['
	run --separate-stderr sisdr --bss --win 5000 --hop 3500 --frames --json d/ref d/est
	assert_output --partial '{"start": 3500, "SDR": null, "ISR": null, "SIR": null, "SAR": null}'
}

@test "--bss gives the same numbers on 1 and 2 threads" {
	test_metrics --dump-bss-wav d mix4
	a=$(OMP_NUM_THREADS=1 sisdr --bss --frames --csv d/ref d/est)
	b=$(OMP_NUM_THREADS=2 sisdr --bss --frames --csv d/ref d/est)
	assert_equal "$a" "$b"
}

@test "SNT stems: sources matched by name, a subset evaluated, stdin" {
	# three independent mono sources: 1 s pieces of one noise
	sox -R -n -r 8000 -c 1 -t f32 all.raw synth 3 whitenoise gain -6
	for i in 0 1 2; do dd if=all.raw of=s$i.raw bs=32000 skip=$i count=1 status=none; done
	snt_write $'dtype=f32\nshape=3,1,8000\nsr=8000\ntrack=t\nsources=drums,bass,vocals\n' s0.raw s1.raw s2.raw > ref.snt
	snt_write $'dtype=f32\nshape=3,1,8000\nsr=8000\ntrack=t\nsources=vocals,drums,bass\n' s2.raw s0.raw s1.raw > same.snt
	snt_write $'dtype=f32\nshape=1,1,8000\nsr=8000\ntrack=t\nsources=bass\n' s0.raw > wrong.snt
	run --separate-stderr sisdr --csv ref.snt same.snt
	assert_success
	[ "$(value t vocals SI-SDR | awk '{ print ($1 > 80) }')" = 1 ]
	[ "$(value t drums SI-SDR | awk '{ print ($1 > 80) }')" = 1 ]
	run --separate-stderr sisdr --csv ref.snt - < wrong.snt
	assert_success
	[ "${#lines[@]}" -eq 2 ]
	[ "$(value t bass SI-SDR | awk '{ print ($1 < 3) }')" = 1 ]
}

@test "stft | istft round trip of musdb-cat stems scores above 60 dB" {
	require musdb-cat make-dataset stft istft
	make-dataset --seed 3 --test 2 --train 0 --seconds 1 ds
	musdb-cat test -r ds --stems > ref.snt
	stft -n 1024 -H 256 ref.snt | istft > est.snt
	run --separate-stderr sisdr --usdr --csv ref.snt est.snt
	assert_success
	[ "${#lines[@]}" -eq 9 ]
	run awk -F, 'NR > 1 && !($3 > 60) { print "low: " $0 }' <<<"$output"
	assert_output ""
}

@test "MUSDB folders: the estimate's tracks and sources, mixture.wav ignored, silent windows left out" {
	require make-dataset
	make-dataset --seed 4 --test 2 --train 0 --seconds 2 ds
	for t in ds/test/*/; do
		t=$(basename "$t")
		mkdir -p "est/$t"
		sox "ds/test/$t/vocals.wav" "est/$t/vocals.wav" vol 0.9
		cp "ds/test/$t/bass.wav" "est/$t/bass.wav"
	done
	run --separate-stderr sisdr --bss --csv ds/test est
	assert_success
	[ "${#lines[@]}" -eq 5 ]
	# e = 0.9 s: SDR = 10 log10(1 / 0.01) = 20 dB in every window; e = s: +inf,
	# left out of the median: nan (16-bit rounding of 0.9 s moves SDR by < 0.01)
	run awk -F, 'NR > 1 && ($2 == "vocals" ? ($3 < 19.99 || $3 > 20.01) : $3 != "nan") { print "bad: " $0 }' <<<"$output"
	assert_output ""
}

@test "a shorter or longer estimate is zero-padded or cut with a warning" {
	noise_wav s.wav
	sox s.wav short.wav trim 0 0.5
	sox s.wav long.wav pad 0 0.25
	run --separate-stderr sisdr --usdr --csv s.wav long.wav
	assert_success
	[ "$(awk -F, 'NR == 2 { print ($3 > 80) }' <<<"$output")" = 1 ]
	assert_equal "$stderr" "sisdr: long.wav: record 0: estimate has 10000 samples, reference 8000: cut"
	run --separate-stderr sisdr --usdr --csv s.wav short.wav
	assert_success
	assert_line --index 1 --regexp '^s,s,3\.0'
	assert_equal "$stderr" "sisdr: short.wav: record 0: estimate has 4000 samples, reference 8000: zero-padded"
}

@test "mismatched channels, rates, records, sources or folders: exit 1, one line, empty stdout" {
	noise_wav s.wav
	noise_wav m.wav 1
	noise_wav r.wav 2 1 16000
	sox -R -n -r 8000 -c 1 -t f32 a.raw synth 0.1 whitenoise
	snt_write $'dtype=f32\nshape=2,1,800\nsources=drums,bass\n' a.raw a.raw > db.snt
	snt_write $'dtype=f32\nshape=2,1,800\nsources=drums,vocals\n' a.raw a.raw > dv.snt
	snt_write $'dtype=f32\nshape=2,1,800\ntrack=b\nsources=drums,bass\n' a.raw a.raw > tb.snt
	snt_write $'dtype=f32\nshape=2,1,800\ntrack=c\nsources=drums,bass\n' a.raw a.raw > tc.snt
	cat db.snt db.snt > two.snt
	mkdir -p ref/t est/t && cp s.wav ref/t/vocals.wav && cp s.wav est/t/vocals.wav && cp s.wav est/t/bass.wav
	for pair in "s.wav m.wav:channels" "s.wav r.wav:sample rate" \
		"db.snt dv.snt:no reference of source 'vocals'" "two.snt db.snt:records" \
		"tb.snt tc.snt:track 'c'" "- -:standard input" "s.wav est:folder" \
		"ref est:ref/t/bass.wav" "s.wav nothere.wav:nothere.wav"; do
		run --separate-stderr sisdr ${pair%%:*}
		assert_failure 1
		assert_output ""
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ $stderr == sisdr:* ]]
		[[ $stderr == *"${pair#*:}"* ]] || { echo "stderr: $stderr"; false; }
	done
	rm est/t/bass.wav && mkdir est/u && cp s.wav est/u/vocals.wav
	run --separate-stderr sisdr ref est
	assert_failure 1
	assert_output ""
	[[ $stderr == *"ref/u"* ]]
}

@test "--tracks: only the median and mean over tracks, in the table and in CSV" {
	test_metrics --dump-bss-wav d mix4
	mkdir -p two/ref two/est
	for k in ref est; do cp -r d/$k/* two/$k/; cp -r d/$k/mix4 two/$k/again; done
	run --separate-stderr sisdr two/ref two/est
	assert_success
	full=$output
	run --separate-stderr sisdr --tracks two/ref two/est
	assert_success
	refute_output --partial 'again'
	assert_output --partial 'median (2 tracks)'
	# the aggregate lines are those of the full table
	assert_equal "$output" "$(grep -E '^(track|median|mean)' <<<"$full")"
	run --separate-stderr sisdr --tracks --csv two/ref two/est
	assert_line --index 1 --regexp '^median,'
	refute_output --partial 'again'
	run --separate-stderr sisdr --bss --tracks --frames two/ref two/est
	assert_failure 2
}
