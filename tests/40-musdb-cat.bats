#!/usr/bin/env bats
# musdb-cat on datasets written by make-dataset: the listing, the splits,
# training records (shapes, keys, determinism across runs, -j, --cache and
# --skip, each augmentation on and off, checked against the WAV samples
# that sox decodes), whole tracks, and every error path.

load helper

setup_file() {
	require musdb-cat make-dataset sox soxi
	# train: 3 generated songs and the official valid track "Actions - One
	# Minute Smile"; test: 2 songs; each 2 to 2.5 s
	export DS=$BATS_FILE_TMPDIR/ds
	make-dataset --seed 5 --train 4 --test 2 --valid-names 1 --seconds 2 "$DS"
}

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# snt_walk FILE [INDEX]: print each record's header as one line of
# ';'-separated key=value pairs, or with INDEX write that record's payload.
snt_walk() {
	local f=$1 want=${2:-} off=0 i=0 size H text shape n
	size=$(stat -c %s "$f")
	while [ "$off" -lt "$size" ]; do
		H=$(od -An -tu4 -j $((off + 4)) -N4 "$f" | tr -d ' ')
		text=$(dd if="$f" iflag=skip_bytes,count_bytes skip=$((off + 8)) count="$H" status=none)
		shape=$(sed -n 's/^shape=//p' <<<"$text")
		n=4
		for d in ${shape//,/ }; do n=$((n * d)); done
		if [ -z "$want" ]; then
			grep -v '^$' <<<"$text" | paste -sd';'
		elif [ "$want" -eq "$i" ]; then
			dd if="$f" iflag=skip_bytes,count_bytes skip=$((off + 8 + H)) count="$n" status=none
		fi
		off=$((off + 8 + H + n)) i=$((i + 1))
	done
	[ "$off" -eq "$size" ] || { echo "snt_walk: $f: truncated record" >&2; return 1; }
}

key() {	# HEADER-LINE KEY
	tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"
}

# The samples musdb-cat should write for stem file WAV: raw f32 of channel
# CH (1 or 2) from frame OFFSET for LEN frames, through sox EFFECTS.
wav_plane() {	# WAV OFFSET LEN CH [EFFECT...]
	local wav=$1 off=$2 len=$3 ch=$4
	shift 4
	sox "$wav" -t f32 - trim "${off}s" "${len}s" remix "$ch" "$@"
}

track_dir() {	# NAME: its folder
	if [ -d "$DS/train/$1" ]; then echo "$DS/train/$1"; else echo "$DS/test/$1"; fi
}

STEMS="drums bass other vocals"
PLAIN="--no-gain --no-swap --no-flip --remix 0"

# error: exit 1, one line on stderr containing MESSAGE, empty stdout
fails_with() {	# MESSAGE COMMAND...
	local msg=$1
	shift
	run --separate-stderr "$@"
	assert_failure 1
	assert_output ''
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ] || { echo "stderr: $stderr"; return 1; }
	[[ $stderr == "musdb-cat: "*"$msg"* ]] || { echo "stderr: $stderr"; return 1; }
}

@test "musdb-cat -h, --version and usage errors" {
	run musdb-cat -h
	assert_success
	assert_output --partial 'usage: musdb-cat list'
	run musdb-cat --version
	assert_output --regexp '^musdb-cat [0-9]+\.[0-9]+'
	for args in "" "shuffle -r $DS" "list -r $DS bogus" "train -r $DS --remix 1.5" \
		"train -r $DS -l 0" "train -r $DS -n x" "test -r $DS -l 100" "test -r $DS --no-gain" \
		"list -r $DS --full" "train -r $DS -j 0"; do
		run --separate-stderr musdb-cat $args
		assert_failure 2
		assert_output ''
	done
	MUSDB_PATH= run --separate-stderr musdb-cat train
	assert_failure 2
	assert_equal "$stderr" 'musdb-cat: no dataset: give -r ROOT or set MUSDB_PATH'
}

@test "list: split, name, duration, peak and RMS per stem, as sox measures them" {
	run musdb-cat list -r "$DS"
	assert_success
	assert_equal "${#lines[@]}" 6
	assert_equal "$(cut -f1 <<<"$output" | paste -sd' ')" 'train train train valid test test'
	assert_equal "$(awk -F'\t' '{print NF}' <<<"$output" | sort -u)" 11
	assert_line --index 3 --regexp $'^valid\tActions - One Minute Smile\t'
	while IFS=$'\t' read -r split name secs f1 f2 f3 f4 f5 f6 peak rms; do
		dir=$(track_dir "$name")
		assert_equal "$secs" "$(printf '%.3f' "$(soxi -D "$dir/vocals.wav")")"
		stats=$(sox "$dir/vocals.wav" -n stats 2>&1)
		assert_equal "$peak" "$(awk '/^Pk lev dB/ {print $4}' <<<"$stats")"
		assert_equal "$rms" "$(awk '/^RMS lev dB/ {print $4}' <<<"$stats")"
	done <<<"$output"
}

@test "list per split: valid holds the official track, train and test the rest" {
	run musdb-cat list -r "$DS" valid
	assert_output --regexp $'^valid\tActions - One Minute Smile\t[0-9.]+\t'
	assert_equal "${#lines[@]}" 1
	run musdb-cat list -r "$DS" train
	assert_equal "${#lines[@]}" 3
	refute_output --partial 'Actions'
	run musdb-cat list -r "$DS" test
	assert_equal "$(cut -f2 <<<"$output" | paste -sd'|')" "$(ls "$DS/test" | paste -sd'|')"
}

@test "train: -n records f32 [4, 2, L] with keys in order; MUSDB_PATH as the root" {
	MUSDB_PATH=$DS musdb-cat train -l 4410 -n 5 > t.snt
	run snt_walk t.snt
	assert_equal "${#lines[@]}" 5
	for l in "${lines[@]}"; do
		[[ $l =~ ^dtype=f32\;shape=4,2,4410\;sources=drums,bass,other,vocals\;sr=44100\;track=[^\;]+\;offset=[0-9,]+\;gain=[0-9.,]+\;swap=[01,]+\;flip=[01,]+\;epoch_size=[0-9]+$ ]] ||
			{ echo "$l"; return 1; }
	done
}

@test "train: the segment length comes from -c CONFIG, -l overrides it" {
	printf '[train]\nsegment_length = 3000\nseed = 9\n' > c.ini
	musdb-cat train -r "$DS" -c c.ini -n 2 > a.snt
	[[ $(snt_walk a.snt | head -1) == *";shape=4,2,3000;"* ]]
	musdb-cat train -r "$DS" -c c.ini -l 1000 -n 2 > b.snt
	[[ $(snt_walk b.snt | head -1) == *";shape=4,2,1000;"* ]]
	musdb-cat train -r "$DS" -l 3000 --seed 9 -n 2 > c.snt
	cmp a.snt c.snt
	musdb-cat train -r "$DS" -c "$ROOT/configs/tiny.ini" -n 1 > d.snt
	[[ $(snt_walk d.snt) == *";shape=4,2,44100;"* ]]
}

@test "train: the same seed gives the same bytes across runs, -j 1 and -j 4, --cache; another seed differs" {
	musdb-cat train -r "$DS" -l 4410 -n 24 --seed 3 -j 1 > a.snt
	musdb-cat train -r "$DS" -l 4410 -n 24 --seed 3 -j 1 > b.snt
	musdb-cat train -r "$DS" -l 4410 -n 24 --seed 3 -j 4 > c.snt
	musdb-cat train -r "$DS" -l 4410 -n 24 --seed 3 -j 3 --cache > d.snt
	musdb-cat train -r "$DS" -l 4410 -n 24 --seed 4 -j 1 > e.snt
	cmp a.snt b.snt
	cmp a.snt c.snt
	cmp a.snt d.snt
	! cmp -s a.snt e.snt
}

@test "train --skip N writes exactly records N.. of the unskipped stream" {
	musdb-cat train -r "$DS" -l 2000 -n 9 --seed 1 > all.snt
	musdb-cat train -r "$DS" -l 2000 -n 4 --seed 1 > head.snt
	musdb-cat train -r "$DS" -l 2000 -n 5 --skip 4 --seed 1 -j 3 > tail.snt
	cat head.snt tail.snt | cmp - all.snt
}

@test "train without augmentation: each record's stems are the files' samples at offset" {
	musdb-cat train -r "$DS" -l 3000 -n 4 $PLAIN > t.snt
	for i in 0 1 2 3; do
		h=$(snt_walk t.snt | sed -n "$((i + 1))p")
		refute [ -n "$(key "$h" gain)$(key "$h" swap)$(key "$h" flip)" ]
		dir=$(track_dir "$(key "$h" track)")
		for s in $STEMS; do for c in 1 2; do
			wav_plane "$dir/$s.wav" "$(key "$h" offset)" 3000 $c
		done; done > want.raw
		snt_walk t.snt $i | cmp - want.raw
	done
}

@test "train: a track shorter than the segment is read from its start and padded with zeros" {
	musdb-cat train -r "$DS" -l 200000 -n 1 $PLAIN > t.snt
	h=$(snt_walk t.snt)
	assert_equal "$(key "$h" offset)" 0
	dir=$(track_dir "$(key "$h" track)")
	n=$(soxi -s "$dir/drums.wav")
	for s in $STEMS; do for c in 1 2; do
		wav_plane "$dir/$s.wav" 0 $n $c
		head -c $(((200000 - n) * 4)) /dev/zero
	done; done > want.raw
	snt_walk t.snt 0 | cmp - want.raw
}

@test "train: 24-bit and float WAV stems read exactly as sox decodes them" {
	make-dataset --seed 3 --train 1 --test 0 --seconds 0.5 w
	dir=w/train/$(ls w/train)
	sox "$dir/drums.wav" -b 24 x.wav vol 0.9 && mv x.wav "$dir/drums.wav"
	sox "$dir/bass.wav" -e floating-point -b 32 x.wav vol 1.1 && mv x.wav "$dir/bass.wav"
	musdb-cat train -r w -l 3000 -n 2 $PLAIN > t.snt
	for i in 0 1; do
		h=$(snt_walk t.snt | sed -n "$((i + 1))p")
		for s in $STEMS; do for c in 1 2; do
			wav_plane "$dir/$s.wav" "$(key "$h" offset)" 3000 $c
		done; done > want.raw
		snt_walk t.snt $i | cmp - want.raw
	done
}

@test "train: the official valid track never appears in training records" {
	musdb-cat train -r "$DS" -l 1000 -n 60 --remix 1 > t.snt
	run snt_walk t.snt
	refute_output --partial 'Actions'
	musdb-cat valid -r "$DS" > v.snt
	assert_equal "$(snt_walk v.snt | paste -sd'|')" \
		"$(printf 'dtype=f32;shape=4,2,%s;sources=drums,bass,other,vocals;sr=44100;track=Actions - One Minute Smile;split=valid' \
			"$(soxi -s "$DS/train/Actions - One Minute Smile/drums.wav")")"
}

@test "gain: per-stem gains in [0.25, 1.25], listed in gain=, applied to the samples" {
	musdb-cat train -r "$DS" -l 3000 -n 6 --seed 2 --no-swap --no-flip --remix 0 > g.snt
	musdb-cat train -r "$DS" -l 3000 -n 6 --seed 2 $PLAIN > p.snt
	for i in 0 1 2 3 4 5; do
		hg=$(snt_walk g.snt | sed -n "$((i + 1))p") hp=$(snt_walk p.snt | sed -n "$((i + 1))p")
		assert_equal "$(key "$hg" track) $(key "$hg" offset)" "$(key "$hp" track) $(key "$hp" offset)"
		gains=$(key "$hg" gain)
		# the least-squares gain of each stem's samples against the plain record's
		paste <(snt_walk g.snt $i | od -An -v -f -w4) <(snt_walk p.snt $i | od -An -v -f -w4) |
			awk -v gains="$gains" -v n=6000 '
			{ s = int((NR - 1) / n); ab[s] += $1 * $2; bb[s] += $2 * $2 }
			END { split(gains, g, ",")
				for (s = 0; s < 4; s++) {
					if (g[s + 1] < 0.25 || g[s + 1] > 1.25) exit 1
					if (bb[s] > 0 && (ab[s] / bb[s] - g[s + 1])^2 > 1e-10) exit 1
				} }'
	done
	! cmp -s g.snt p.snt
}

@test "channel swap and sign flip: the flagged stems are swapped or negated, exactly" {
	musdb-cat train -r "$DS" -l 2000 -n 6 --seed 8 --no-gain --remix 0 > t.snt
	run snt_walk t.snt
	assert_output --regexp 'swap=[01,]*1'
	assert_output --regexp 'swap=[01,]*0'
	assert_output --regexp 'flip=[01,]*1'
	assert_output --regexp 'flip=[01,]*0'
	for i in 0 1 2 3 4 5; do
		h=$(snt_walk t.snt | sed -n "$((i + 1))p")
		IFS=, read -r -a swap <<<"$(key "$h" swap)"
		IFS=, read -r -a flip <<<"$(key "$h" flip)"
		dir=$(track_dir "$(key "$h" track)")
		k=0
		for s in $STEMS; do
			for c in 1 2; do
				ch=$c
				[ "${swap[$k]}" = 1 ] && ch=$((3 - c))
				if [ "${flip[$k]}" = 1 ]; then
					wav_plane "$dir/$s.wav" "$(key "$h" offset)" 2000 $ch vol -1
				else
					wav_plane "$dir/$s.wav" "$(key "$h" offset)" 2000 $ch
				fi
			done
			k=$((k + 1))
		done > want.raw
		snt_walk t.snt $i > got.raw
		# a negated 0 is -0 here and +0 from sox: compare values, not bits
		diff <(floats got.raw) <(floats want.raw)
	done
}

floats() {	# FILE: one f32 value per line, -0 written as 0
	od -An -v -f -w4 "$1" | sed 's/^ *-0$/0/; s/^ *//'
}

@test "remix: --remix 1 takes each stem from its own track and offset; --remix 0 never" {
	musdb-cat train -r "$DS" -l 2000 -n 8 --seed 4 --remix 1 --no-gain --no-swap --no-flip > r.snt
	run snt_walk r.snt
	for l in "${lines[@]}"; do
		[[ $(key "$l" track) =~ ^[^|]+\|[^|]+\|[^|]+\|[^|]+$ ]]
		[[ $(key "$l" offset) =~ ^[0-9]+,[0-9]+,[0-9]+,[0-9]+$ ]]
	done
	h=${lines[0]}
	IFS='|' read -r -a tracks <<<"$(key "$h" track)"
	IFS=, read -r -a offsets <<<"$(key "$h" offset)"
	k=0
	for s in $STEMS; do
		for c in 1 2; do wav_plane "$(track_dir "${tracks[$k]}")/$s.wav" "${offsets[$k]}" 2000 $c; done
		k=$((k + 1))
	done > want.raw
	snt_walk r.snt 0 | cmp - want.raw
	musdb-cat train -r "$DS" -l 2000 -n 30 --remix 0 > n.snt
	run snt_walk n.snt
	refute_output --partial '|'
	musdb-cat train -r "$DS" -l 2000 -n 30 > d.snt	# default 0.5: both kinds
	run snt_walk d.snt
	assert_output --partial '|'
	assert_output --regexp 'track=[^|;]+;'
}

@test "random offset: any sample by default, multiples of L with --no-shift" {
	musdb-cat train -r "$DS" -l 4410 -n 40 --remix 0 > s.snt
	off=$(snt_walk s.snt | sed 's/.*;offset=\([0-9]*\);.*/\1/')
	[ "$(awk '$1 % 4410' <<<"$off" | wc -l)" -gt 30 ]
	musdb-cat train -r "$DS" -l 4410 -n 40 --remix 1 --no-shift > g.snt
	off=$(snt_walk g.snt | sed 's/.*;offset=\([0-9,]*\);.*/\1/' | tr , '\n')
	assert_equal "$(wc -l <<<"$off")" 160
	assert_equal "$(awk '$1 % 4410' <<<"$off" | wc -l)" 0
}

@test "segments where every stem is silent are drawn again; an all-silent dataset is an error" {
	make-dataset --seed 2 --train 2 --test 0 --seconds 1 q
	silent=$(ls q/train | head -1)
	for s in $STEMS; do
		sox "q/train/$silent/$s.wav" -b 16 x.wav vol 0 && mv x.wav "q/train/$silent/$s.wav"
	done
	musdb-cat train -r q -l 1000 -n 40 --remix 0 > t.snt
	run snt_walk t.snt
	assert_equal "${#lines[@]}" 40
	refute_output --partial "$silent"
	other=$(ls q/train | tail -1)
	for s in $STEMS; do
		sox "q/train/$other/$s.wav" -b 16 x.wav vol 0 && mv x.wav "q/train/$other/$s.wav"
	done
	fails_with 'silent' musdb-cat train -r q -l 1000 -n 1
}

@test "test: one stems record per track; --mixture alone; --mixture --stems interleaved, mixture first" {
	musdb-cat test -r "$DS" > s.snt
	musdb-cat test -r "$DS" --full --stems > s2.snt
	cmp s.snt s2.snt
	run snt_walk s.snt
	assert_equal "${#lines[@]}" 2
	i=0
	for name in $(ls "$DS/test" | tr ' ' '_'); do
		name=${name//_/ } n=$(soxi -s "$DS/test/$name/mixture.wav")
		assert_equal "${lines[$i]}" "dtype=f32;shape=4,2,$n;sources=drums,bass,other,vocals;sr=44100;track=$name;split=test"
		i=$((i + 1))
	done
	musdb-cat test -r "$DS" --mixture > m.snt
	run snt_walk m.snt
	assert_equal "${#lines[@]}" 2
	assert_line --index 0 --regexp '^dtype=f32;shape=2,[0-9]+;name=mixture;sr=44100;track=Synth [^;]+;split=test$'
	musdb-cat test -r "$DS" --mixture --stems > b.snt
	run snt_walk b.snt
	assert_equal "${#lines[@]}" 4
	assert_line --index 0 --partial 'name=mixture'
	assert_line --index 1 --partial 'sources='
	assert_equal "$(key "${lines[2]}" track)" "$(key "${lines[3]}" track)"
}

@test "whole tracks are the files' samples, and the stems sum to the mixture within 16-bit rounding" {
	name=$(ls "$DS/test" | head -1)
	echo "test/$name" > one.txt
	musdb-cat test -r "$DS" --tracks one.txt --mixture --stems > b.snt
	n=$(soxi -s "$DS/test/$name/mixture.wav")
	for s in $STEMS; do for c in 1 2; do wav_plane "$DS/test/$name/$s.wav" 0 $n $c; done; done > want.raw
	snt_walk b.snt 1 | cmp - want.raw
	snt_walk b.snt 0 > mix.raw
	snt_walk b.snt 1 > stems.raw
	raw="-t f32 -c 1 -r 44100"
	for c in 0 1; do
		for s in 0 1 2 3; do
			dd if=stems.raw of=s$s.raw iflag=skip_bytes,count_bytes skip=$(((2 * s + c) * n * 4)) count=$((n * 4)) status=none
		done
		dd if=mix.raw of=m.raw iflag=skip_bytes,count_bytes skip=$((c * n * 4)) count=$((n * 4)) status=none
		sox -m -v 1 $raw s0.raw -v 1 $raw s1.raw -v 1 $raw s2.raw -v 1 $raw s3.raw -v -1 $raw m.raw $raw diff.raw
		peak=$(sox $raw diff.raw -n stats 2>&1 | awk '/^Pk lev dB/ {print $4}')
		# 16-bit rounding of five files: within a few LSB, far below -80 dBFS
		[ "$peak" = -inf ] || awk -v p="$peak" 'BEGIN { exit !(p < -80) }'
	done
}

@test "the man page's evaluation pipeline: test --mixture | stft | istft lines up with test --stems" {
	require stft istft snt-cmp
	musdb-cat test -r "$DS" --mixture > m.snt
	stft -c "$ROOT/configs/tiny.ini" m.snt | istft > y.snt
	run snt-cmp -t 1e-5 m.snt y.snt
	assert_success
	musdb-cat test -r "$DS" --stems > s.snt
	assert_equal "$(snt_walk y.snt | sed 's/.*;track=\([^;]*\).*/\1/')" \
		"$(snt_walk s.snt | sed 's/.*;track=\([^;]*\).*/\1/')"
	assert_equal "$(snt_walk y.snt | wc -l)" 2
}

@test "--chunk: whole tracks as chunk records, read a chunk at a time; the pipeline and sisdr take them" {
	require stft istft sepnet-fwd sisdr snt-join snt-info
	musdb-cat test -r "$DS" --mixture --stems > whole.snt
	musdb-cat test -r "$DS" --mixture --stems --chunk 0.7 > chunks.snt
	run snt-info chunks.snt
	assert_line --index 0 --regexp $'^0\tmixture\tf32\t.* chunk=0 offset=0 total='
	snt-join chunks.snt | cmp - whole.snt
	run musdb-cat train -r "$DS" --chunk 1 -n 1
	assert_failure 2
	# the evaluation pipeline on chunks: the whole tracks' scores
	TINY=$ROOT/configs/tiny.ini
	sepnet-fwd --init -c "$TINY" -o m.safetensors
	musdb-cat test -r "$DS" --mixture | stft -c "$TINY" | sepnet-fwd -m m.safetensors | istft > e1.snt
	musdb-cat test -r "$DS" --mixture --chunk 0.7 | stft -c "$TINY" | sepnet-fwd -m m.safetensors |
		istft > e2.snt
	musdb-cat test -r "$DS" --stems --chunk 0.7 > ref.snt
	diff <(sisdr ref.snt e1.snt) <(sisdr ref.snt e2.snt)
}

@test "--tracks FILE: the named tracks in file order, from train/ or test/; an unknown name names the line" {
	t1=$(ls "$DS/test" | head -1) t2=$(ls "$DS/train" | tail -1)
	printf '# chosen\n%s\n\ntrain/%s\n' "$t1" "$t2" > list.txt
	musdb-cat valid -r "$DS" --tracks list.txt > f.snt
	run snt_walk f.snt
	assert_equal "$(key "${lines[0]}" track)|$(key "${lines[1]}" track)" "$t1|$t2"
	assert_equal "$(key "${lines[1]}" split)" train
	musdb-cat train -r "$DS" --tracks <(echo "$t1") -l 1000 -n 5 --remix 1 > t.snt
	[ "$(snt_walk t.snt | grep -o "$t1" | wc -l)" -eq 20 ]
	printf '%s\nNobody - Nothing\n' "$t1" > bad.txt
	fails_with "bad.txt:2: no track 'Nobody - Nothing'" musdb-cat test -r "$DS" --tracks bad.txt
}

@test "train --full streams whole training tracks; a closed pipe ends an endless stream quietly" {
	musdb-cat train -r "$DS" --full > f.snt
	run snt_walk f.snt
	assert_equal "${#lines[@]}" 3
	refute_output --partial 'Actions'
	run --separate-stderr bash -c 'musdb-cat train -r "$DS" -l 44100 | head -c 100000 | wc -c'
	assert_output 100000
	assert_equal "$stderr" ''
}

# ---- errors: one line naming the file, exit 1, nothing on stdout ----

tiny() {	# DIR: a dataset of one train and one test song of 0.5 s
	make-dataset --seed 1 --train 1 --test 1 --seconds 0.5 "$1"
	T=$(ls "$1/train")
}

@test "error: a missing stem" {
	tiny d
	rm "d/train/$T/bass.wav"
	fails_with "d/train/$T/bass.wav: missing stem" musdb-cat train -r d -l 100 -n 1
}

@test "error: a missing mixture, only when --mixture reads it" {
	tiny d
	rm "d/train/$T/mixture.wav"
	fails_with "d/train/$T/mixture.wav: missing mixture" musdb-cat train -r d --mixture
	run musdb-cat train -r d --full
	assert_success
}

@test "error: wrong sample rate, wrong channel count, unreadable WAV" {
	tiny d
	sox "d/train/$T/vocals.wav" -r 22050 x.wav && mv x.wav "d/train/$T/vocals.wav"
	fails_with "d/train/$T/vocals.wav: sample rate 22050 Hz, expected 44100" musdb-cat train -r d -n 1 -l 100
	tiny e
	sox "e/train/$T/drums.wav" -c 1 x.wav && mv x.wav "e/train/$T/drums.wav"
	fails_with "e/train/$T/drums.wav: 1 channel, expected 2" musdb-cat train -r e -n 1 -l 100
	tiny f
	head -c 1000 /dev/urandom > "f/train/$T/other.wav"
	fails_with "f/train/$T/other.wav: unreadable audio" musdb-cat train -r f -n 1 -l 100
}

@test "stems of different lengths: a warning naming the files, the track cut to the shortest" {
	tiny d
	sox "d/test/$(ls d/test)/bass.wav" x.wav trim 0 1000s && mv x.wav "d/test/$(ls d/test)/bass.wav"
	run --separate-stderr musdb-cat test -r d --mixture --stems
	assert_success
	[[ $stderr == *"drums.wav: "*" frames, but "*"/bass.wav has 1000: cut to the shortest"* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 4 ]
	musdb-cat test -r d --mixture --stems 2>/dev/null > t.snt
	run snt_walk t.snt
	assert_line --index 0 --partial ';shape=2,1000;'
	assert_line --index 1 --partial ';shape=4,2,1000;'
}

@test "error: an empty split, a missing root, a root without train/" {
	tiny d
	fails_with "d/train: no tracks in split valid" musdb-cat valid -r d
	fails_with "nowhere: not a folder" musdb-cat list -r nowhere
	mkdir e
	fails_with "e/train:" musdb-cat train -r e -n 1 -l 100
}
