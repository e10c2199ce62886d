#!/usr/bin/env bash
# bench-sisdr.sh: sisdr --bss against museval on one MUSDB-sized track.
#
# A synthetic song from make-dataset (44.1 kHz stereo 16-bit, drums, bass,
# other, vocals) cut to SECONDS_AUDIO (default 180 s) is the reference; the
# estimate of each stem is 0.8 of it plus 0.2 of the next stem (sox -m).
# Timed, with OMP_NUM_THREADS threads:
#   sepnet  sisdr --bss REF EST   (WAV decoding included), best of 3
#   museval museval.evaluate(ref, est, win=44100, hop=44100, mode='v4') on
#           the same samples (WAV reading not timed), once
# museval runs when MUSEVAL_PYTHON (default: python3, then /usr/bin/python3)
# imports it (pip install museval); otherwise that half is skipped with a
# note.  Both medians are printed with their largest difference, and the
# ratio museval / sisdr.  Peak RSS of sisdr from /usr/bin/time.
set -eu
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
secs=${SECONDS_AUDIO:-180} repeats=3

for p in "$BINDIR/sisdr" "$OBJDIR/tests/tools/make-dataset"; do
	[ -x "$p" ] || { echo "bench-sisdr: $p not built (make)" >&2; exit 1; }
done
command -v sox >/dev/null || { echo "bench-sisdr: sox not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$OBJDIR/tests/tools/make-dataset" --seed 1 --test 1 --train 0 --seconds "$secs" "$tmp/ds" >/dev/null
song=$(ls -d "$tmp"/ds/test/*/)
stems=(drums bass other vocals)
mkdir -p "$tmp/ref/song" "$tmp/est/song"
for s in "${stems[@]}"; do
	sox "$song/$s.wav" "$tmp/ref/song/$s.wav" trim 0 "$secs"
done
for i in 0 1 2 3; do
	s=${stems[$i]} o=${stems[$(((i + 1) % 4))]}
	sox -m -v 0.8 "$tmp/ref/song/$s.wav" -v 0.2 "$tmp/ref/song/$o.wav" "$tmp/est/song/$s.wav"
done

now() { date +%s.%N; }
best=
for _ in $(seq $repeats); do
	t0=$(now)
	"$BINDIR/sisdr" --bss --csv "$tmp/ref" "$tmp/est" > "$tmp/sisdr.csv"
	t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
	best=$(awk -v a="${best:-1e99}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
done
/usr/bin/time -f %M -o "$tmp/rss" "$BINDIR/sisdr" --bss "$tmp/ref" "$tmp/est" > /dev/null

printf 'BSSEval v4, %s s stereo 44.1 kHz, 4 sources, 1 s windows, %d threads\n' "$secs" "$threads"
printf '  sepnet  sisdr --bss (WAV in)   %7.2f s  %6.1f x realtime  peak RSS %d MiB (best of %d)\n' \
	"$best" "$(awk -v a="$secs" -v t="$best" 'BEGIN { print a / t }')" $(($(cat "$tmp/rss") / 1024)) $repeats

museval_py='
import sys, time, types, warnings
import numpy as np
from scipy.io import wavfile
try:
    import museval
except RuntimeError:	# musdb -> stempeg wants ffmpeg; evaluate() does not
    for m in [m for m in sys.modules if m.split(".")[0] in ("museval", "musdb", "stempeg")]:
        del sys.modules[m]
    sys.modules["stempeg"] = types.ModuleType("stempeg")
    import museval
ref_dir, est_dir = sys.argv[1], sys.argv[2]
stems = ["drums", "bass", "other", "vocals"]
def load(d):
    return np.array([wavfile.read("%s/%s.wav" % (d, s))[1] / 32768.0 for s in stems])
ref, est = load(ref_dir), load(est_dir)
t0 = time.time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    sdr, isr, sir, sar = museval.evaluate(ref, est, win=44100, hop=44100, mode="v4")
print("seconds=%.3f" % (time.time() - t0))
for s, v in zip(stems, np.array([sdr, isr, sir, sar]).transpose(1, 0, 2)):
    print("median_%s=\"%s\"" % (s, " ".join("%.6f" % x for x in np.nanmedian(np.where(np.isinf(v), np.nan, v), axis=1))))
'
py=
for p in ${MUSEVAL_PYTHON:-python3} /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import museval' >/dev/null 2>&1 ||
		"$p" -c 'import sys, types; sys.modules["stempeg"] = types.ModuleType("stempeg"); import museval' \
			>/dev/null 2>&1; then
		py=$p
		break
	fi
done
if [ -z "$py" ]; then
	echo "  museval not importable (pip install museval; MUSEVAL_PYTHON=/path/to/python): no ratio"
	exit 0
fi
eval "$("$py" -c "$museval_py" "$tmp/ref/song" "$tmp/est/song")"	# seconds= median_drums= ...
printf '  museval evaluate (v4)          %7.2f s  %6.1f x realtime\n' "$seconds" \
	"$(awk -v a="$secs" -v t="$seconds" 'BEGIN { print a / t }')"
diff=0
for s in "${stems[@]}"; do
	ours=$(awk -F, -v s="$s" '$2 == s { print $3, $4, $5, $6 }' "$tmp/sisdr.csv")
	theirs=$(eval echo "\$median_$s")
	printf '  %-7s SDR ISR SIR SAR  sisdr %s  museval %s\n' "$s" "$ours" "$theirs"
	diff=$(awk -v a="$ours" -v b="$theirs" -v d="$diff" 'BEGIN { n = split(a, x, " "); split(b, y, " ");
		for (i = 1; i <= n; i++) { e = x[i] - y[i]; if (e < 0) e = -e; if (e > d) d = e }; print d }')
done
awk -v m="$seconds" -v s="$best" -v d="$diff" 'BEGIN {
	printf "  ratio   museval / sisdr %.1fx (>1: sisdr faster); medians differ by at most %.2g dB\n", m / s, d }'
