#!/usr/bin/env bash
# bench-stft.sh: the stft | istft round trip against torch.stft/istft.
#
# 5 minutes of stereo 44.1 kHz noise (sox), n_fft 4096, hop 1024 (the base
# config), OMP_NUM_THREADS threads on both sides, best of 3:
#   sepnet  stft < song.wav | istft > /dev/null   (decode, pipe, encode)
#   sepnet  library only (tests/tools/bench-stft: no I/O)
#   torch   WAV read (scipy) + torch.stft + torch.istft, and the two alone
# x realtime = seconds of audio per second of wall time.  Peak RSS of stft
# and istft comes from /usr/bin/time, next to the size of the one record
# they hold (the [2, 2049, 12920] c64 spectrogram).
#   SECONDS_AUDIO=60 tests/bench/bench-stft.sh    a shorter song
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
secs=${SECONDS_AUDIO:-300} n_fft=4096 hop=1024 repeats=3

for p in "$BINDIR/stft" "$BINDIR/istft" "$OBJDIR/tests/tools/bench-stft"; do
	[ -x "$p" ] || { echo "bench-stft: $p not built (make)" >&2; exit 1; }
done
command -v sox >/dev/null || { echo "bench-stft: sox not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
song=$tmp/song.wav
sox -R -n -r 44100 -c 2 -b 16 "$song" synth "$secs" pinknoise vol 0.5

now() { date +%s.%N; }
xrt() { awk -v a="$secs" -v t="$1" 'BEGIN { printf "%7.3f s %8.1f x realtime", t, a / t }'; }

best=
for _ in $(seq $repeats); do
	t0=$(now)
	"$BINDIR/stft" -n $n_fft -H $hop < "$song" | "$BINDIR/istft" > /dev/null
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	best=$(awk -v a="${best:-1e99}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
done
pipe=$best

lib=$("$OBJDIR/tests/tools/bench-stft" -n $n_fft -H $hop -d "$secs" -c 2 -r $repeats |
	awk '/round trip/ { print $3 }')

/usr/bin/time -f %M -o "$tmp/rss.stft" "$BINDIR/stft" -n $n_fft -H $hop < "$song" |
	/usr/bin/time -f %M -o "$tmp/rss.istft" "$BINDIR/istft" > /dev/null
record=$(awk -v n="$secs" -v f=$((n_fft / 2 + 1)) -v h=$hop \
	'BEGIN { printf "%.0f", 2 * f * (1 + int(n * 44100 / h)) * 8 / 1048576 }')

printf 'n_fft %d hop %d, %s s stereo 44.1 kHz, %d threads, best of %d\n' \
	$n_fft $hop "$secs" "$threads" $repeats
printf '  sepnet stft | istft (WAV in, pipe)  %s\n' "$(xrt "$pipe")"
printf '  sepnet library stft + istft         %s\n' "$(xrt "$lib")"
if torch=$(/usr/bin/python3 tests/bench/torch_stft.py "$song" $n_fft $hop "$threads" $repeats 2>/dev/null); then
	eval "$torch"	# seconds= read= stft= istft= roundtrip= err=
	torch_all=$(awk -v a="$read" -v b="$roundtrip" 'BEGIN { print a + b }')
	printf '  torch  WAV read + stft + istft      %s\n' "$(xrt "$torch_all")"
	printf '  torch  stft + istft                 %s  (max error %s)\n' "$(xrt "$roundtrip")" "$err"
	awk -v p="$pipe" -v l="$lib" -v ta="$torch_all" -v tr="$roundtrip" 'BEGIN {
		printf "  ratio  sepnet pipe / torch end to end %.1fx, library / torch.stft+istft %.1fx (>1: sepnet faster)\n", ta / p, tr / l }'
else
	echo "  torch  not available (/usr/bin/python3 with torch, numpy, scipy): no ratio"
fi
printf '  peak RSS stft %d MiB, istft %d MiB; spectrogram record %d MiB\n' \
	$(($(cat "$tmp/rss.stft") / 1024)) $(($(cat "$tmp/rss.istft") / 1024)) "$record"
