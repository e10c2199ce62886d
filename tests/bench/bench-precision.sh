#!/usr/bin/env bash
# bench-precision.sh: what bf16 GEMMs cost in separation quality on the CPU.
#
# SONGS songs of SECONDS_SONG to 1.25x that (make-dataset --seed 8080,
# never trained on) separated by sepnet-fwd --precision f32 and bf16 with
# the bundled demo model (trained) and a base.ini model trained 20 steps of
# 1 × 10 s on other generated songs (the production shape; a fresh one's
# zero head makes every stem X / 4 whatever the GEMMs do), as audio files; per stem, the mean SI-SDR
# (sisdr) against the true stems in each precision, their largest
# difference over songs, and the SI-SDR of the bf16 stems against the f32
# ones (how far apart the two outputs are).  Also their speeds.  On a
# processor without bf16 (AVX512-BF16 or AMX) both runs are f32 and the
# script says so.
#   SONGS=2 SECONDS_SONG=60 tests/bench/bench-precision.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
songs=${SONGS:-4} secs=${SECONDS_SONG:-150}
gen=$OBJDIR/tests/tools/make-dataset
for p in "$BINDIR/sepnet-fwd" "$BINDIR/sisdr" "$gen"; do
	[ -x "$p" ] || { echo "bench-precision: $p not built (make)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" --seed 8080 --train 0 --test "$songs" --seconds "$secs" "$tmp/data" >/dev/null
"$gen" --seed 8081 --train 4 --test 0 --seconds 12 "$tmp/train" >/dev/null
sed -e 's/^batch_size = .*/batch_size = 1/' -e 's/^learning_rate = .*/learning_rate = 0.002/' \
	-e 's/^use_amp = .*/use_amp = false/' configs/base.ini > "$tmp/base.ini"
"$BINDIR/musdb-cat" train -r "$tmp/train" -c "$tmp/base.ini" -n 20 |
	"$BINDIR/sepnet-train" -q -c "$tmp/base.ini" -o "$tmp/base-run" --steps 20 --epoch-size 1000000000
cp "$tmp/base-run/last.safetensors" "$tmp/base.safetensors"
bf16=$("$OBJDIR/tests/tools/gemm-peak" --has-bf16)
[ "$bf16" = yes ] || echo "(no bf16 on this processor: both runs are f32)"

sisdr_of() { "$BINDIR/sisdr" --csv "$1" "$2" | awk -F, 'NR == 2 { print $3 }'; }
now() { date +%s.%N; }

for model in demo base; do
	m=$model
	[ "$model" = base ] && m=$tmp/base.safetensors
	audio=0
	declare -A t=()
	for p in f32 bf16; do
		t[$p]=0
		for song in "$tmp"/data/test/*/; do
			name=$(basename "$song")
			mkdir -p "$tmp/$model-$p/$name"
			t0=$(now)
			"$BINDIR/sepnet-fwd" -q --precision "$p" -m "$m" "$song/mixture.wav" \
				-o "$tmp/$model-$p/$name/%s.wav"
			t[$p]=$(awk -v a="${t[$p]}" -v b="$t0" -v c="$(now)" 'BEGIN { print a + c - b }')
		done
	done
	for song in "$tmp"/data/test/*/; do
		audio=$(awk -v a=$audio -v n="$(soxi -D "$song/mixture.wav")" 'BEGIN { print a + n }')
	done
	printf '%s model, %d songs, %.0f s of audio: f32 %.1f x realtime, bf16 %.1f x realtime\n' \
		"$model" "$songs" "$audio" "$(awk -v a=$audio -v t="${t[f32]}" 'BEGIN { print a / t }')" \
		"$(awk -v a=$audio -v t="${t[bf16]}" 'BEGIN { print a / t }')"
	printf '  %-7s %10s %10s %14s %18s\n' stem "f32 dB" "bf16 dB" "max |diff| dB" "bf16 vs f32 dB"
	for s in drums bass other vocals; do
		for song in "$tmp"/data/test/*/; do
			name=$(basename "$song")
			printf '%s %s %s\n' "$(sisdr_of "$song/$s.wav" "$tmp/$model-f32/$name/$s.wav")" \
				"$(sisdr_of "$song/$s.wav" "$tmp/$model-bf16/$name/$s.wav")" \
				"$(sisdr_of "$tmp/$model-f32/$name/$s.wav" "$tmp/$model-bf16/$name/$s.wav")"
		done | awk -v s=$s '{ a += $1; b += $2; d = $2 - $1; d = d < 0 ? -d : d; m = d > m ? d : m
			c += $3; n++ }
			END { printf "  %-7s %10.3f %10.3f %14.4f %18.1f\n", s, a / n, b / n, m, c / n }'
	done
done
