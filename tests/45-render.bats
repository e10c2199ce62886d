#!/usr/bin/env bats
# make-dataset --render: songs played by FluidSynth from SoundFonts, in the
# MUSDB18-HQ layout: musdb-cat reads them (valid names included), the stems
# sum to the mixture exactly and each sounds, the same seed gives the same
# bytes on any number of threads, a line per song says what it is, and the
# errors.  csound's GM bank (4 MB, make deps) keeps the SoundFonts quick to
# load; TimGM6mb, the held-out one, must be left out of the default set.

load helper
bats_require_minimum_version 1.5.0

SF2=/usr/share/sounds/sf2

setup_file() {
	require make-dataset musdb-cat snt-info sox soxi
	[ -r $SF2/sf_GMbank.sf2 ] && [ -r $SF2/TimGM6mb.sf2 ] ||
		{ echo "missing SoundFonts: make deps installs them" >&2; return 1; }
	cd "$BATS_FILE_TMPDIR"
	make-dataset --render --soundfont $SF2/sf_GMbank.sf2 --seed 4 --train 3 --test 2 \
		--valid-names 1 --seconds 14 -j 2 ds > ds.txt
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

@test "--render writes the MUSDB18-HQ layout that musdb-cat reads, valid names included" {
	run musdb-cat list -r ds
	assert_success
	[ "${#lines[@]}" -eq 5 ]
	assert_line --regexp '^valid	Actions - One Minute Smile	1[4-7]\.[0-9]+	'
	assert_line --regexp '^test	Rendered 04 - [A-Za-z]+ [A-Za-z]+	'
	musdb-cat valid -r ds --full > valid.snt
	run snt-info valid.snt
	assert_line --index 0 --regexp 'track=Actions - One Minute Smile'
	musdb-cat train -r ds -n 2 > train.snt
	[ "$(snt-info train.snt | wc -l)" -eq 2 ]
}

@test "--render: the stems sum to the mixture exactly, and every stem sounds" {
	for d in ds/train/* ds/test/*; do
		# a quarter each (exact): sox's partial sums would clip at full scale
		run bash -c "sox -m -v 0.25 '$d/drums.wav' -v 0.25 '$d/bass.wav' -v 0.25 '$d/other.wav' \
			-v 0.25 '$d/vocals.wav' -v -0.25 '$d/mixture.wav' -n stats 2>&1 | awk '/Pk lev dB/ { print \$4 }'"
		assert_output -- "-inf"
		for s in drums bass other vocals; do
			rms=$(sox "$d/$s.wav" -n stats 2>&1 | awk '/RMS lev dB/ { print $4 }')
			awk -v r="$rms" 'BEGIN { exit !(r > -45) }' || fail "$d/$s.wav: RMS $rms dB"
		done
		[ "$(soxi -r "$d/mixture.wav")" = 44100 ] && [ "$(soxi -c "$d/mixture.wav")" = 2 ]
		[ "$(soxi -b "$d/mixture.wav")" = 16 ]
	done
}

@test "--render: a line per song names its style, form, presets and SoundFont" {
	[ "$(wc -l < ds.txt)" -eq 5 ]
	run cat ds.txt
	assert_line --index 0 --regexp '^Actions - One Minute Smile: 1[4-7]\.[0-9] s, [a-z]+, [0-9]+ bpm, [A-G][b#]? (major|minor), [34]/4, [0-9]+ bars in [0-9]+ sections; drums: .* \(sf_GMbank\.sf2\); bass: .*; other: .*; vocals: .*$'
}

@test "--render: the same seed writes the same bytes on any number of threads, another seed others" {
	make-dataset --render --soundfont $SF2/sf_GMbank.sf2 --seed 4 --train 3 --test 2 \
		--valid-names 1 --seconds 14 -j 1 one > one.txt
	diff -r ds one
	cmp ds.txt one.txt
	# the same index of another seed: another song
	make-dataset --render --soundfont $SF2/sf_GMbank.sf2 --seed 5 --train 2 --test 0 \
		--seconds 14 other > /dev/null
	! cmp -s ds/train/Rendered\ 01*/mixture.wav other/train/Rendered\ 01*/mixture.wav
	# the held-out SoundFont: every stem from it
	make-dataset --render --soundfont $SF2/TimGM6mb.sf2 --seed 9 --train 0 --test 1 \
		--seconds 8 held > held.txt
	run grep -o '([A-Za-z0-9_]*\.sf2)' held.txt
	assert_output "$(printf '(TimGM6mb.sf2)\n%.0s' 1 2 3 4)"
}

@test "--render: the default SoundFonts leave the held-out TimGM6mb out" {
	run make-dataset --render --seed 2 --train 0 --test 1 --seconds 6 -j 1 dflt
	assert_success
	refute_output --partial TimGM6mb
}

@test "--render: errors name the file or the option" {
	run --separate-stderr make-dataset --render --soundfont nowhere.sf2 x
	assert_failure 1
	assert_equal "$stderr" "make-dataset: nowhere.sf2: No such file or directory"
	echo "not a soundfont" > bad.sf2
	run --separate-stderr make-dataset --render --soundfont bad.sf2 --test 1 x
	assert_failure 1
	assert_equal "$stderr" "make-dataset: bad.sf2: not a SoundFont (.sf2 or .sf3: a RIFF sfbk file, e.g. from fluid-soundfont-gm)"
	run --separate-stderr make-dataset --soundfont $SF2/TimGM6mb.sf2 x
	assert_failure 2
	assert_equal "$stderr" "make-dataset: --soundfont and -j are for --render"
	run --separate-stderr make-dataset --render -j 0 x
	assert_failure 2
}
