#!/usr/bin/env bash
# bench-model.sh: stft | sepnet-fwd | istft against the PyTorch twin, and
# each stage against this machine's roofline.
#
# 60 s of stereo 44.1 kHz noise (sox) through the small and base configs
# with fresh weights (sepnet-fwd --init), OMP_NUM_THREADS threads on both
# sides, best of 3:
#   stages  stft < song.wav > spec; sepnet-fwd --precision f32|bf16 < spec
#           > stems; istft < stems > /dev/null: each alone, from a file
#   sepnet  stft -c CONFIG < song.wav | sepnet-fwd --precision P -m MODEL |
#           istft > /dev/null, P = f32 and bf16
#   torch   tests/bench/torch_model.py: the same STFT, segments (25 % overlap),
#           model and iSTFT with tests/reference/sepnet.py under no_grad, f32
# x realtime = seconds of audio per second of wall time; peak RSS is
# sepnet-fwd's (/usr/bin/time).
#
# The roofline: the model's FLOPs (its GEMMs' multiply-adds × 2 over the
# segments the separator runs, as torch_model.py counts them) at the GEMM
# rate of this machine measured by tests/tools/gemm-peak through sepnet's
# own GEMMs (blas_gemm 2048³ f32; gemm_bf16 2048³ in bf16, rounding
# included).  "of peak" is the stage's GFLOP/s over that rate; for the
# whole pipeline, the x realtime a machine doing nothing but GEMMs at that
# rate would reach, and the share sepnet gets.  "of GEMMs" holds it against
# the model's own GEMMs run alone at their shapes (gemm-peak -m CONFIG: K
# is 192 to 768, the head's output 56 MB a segment), the rate the model's
# arithmetic can reach here; the rest of the time is everything else.  FFT
# stages count 2.5 n log2 n per real transform of n (FFTW's convention).
# On a machine shared with other work, OpenMP's busy-waiting threads (both
# sides use libgomp) make timings swing by 2-3x; OMP_WAIT_POLICY=passive in
# the environment steadies them.
#   SECONDS_AUDIO=20 CONFIGS=base tests/bench/bench-model.sh
set -euo pipefail
BINDIR=${BINDIR:-bin} OBJDIR=${OBJDIR:-build}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
secs=${SECONDS_AUDIO:-60} repeats=${REPEATS:-3}
configs=${CONFIGS:-small base}

for p in "$BINDIR/stft" "$BINDIR/istft" "$BINDIR/sepnet-fwd" "$OBJDIR/tests/tools/gemm-peak"; do
	[ -x "$p" ] || { echo "bench-model: $p not built (make)" >&2; exit 1; }
done
command -v sox >/dev/null || { echo "bench-model: sox not found" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
song=$tmp/song.wav
sox -R -n -r 44100 -c 2 -b 16 "$song" synth "$secs" pinknoise vol 0.5

now() { date +%s.%N; }
xrt() { awk -v a="$secs" -v t="$1" 'BEGIN { printf "%7.3f s %7.1f x realtime", t, a / t }'; }
# best wall seconds of REPEATS runs of "$@" (a shell command line)
best_of() {
	local best=1e99 t0 t
	for _ in $(seq "$repeats"); do
		t0=$(now)
		bash -c "$1"
		t=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')
		best=$(awk -v a="$best" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
	done
	echo "$best"
}

eval "$("$OBJDIR/tests/tools/gemm-peak")"	# sgemm= bf16= (0: no bf16 here)
has_bf16=$(awk -v b="$bf16" 'BEGIN { print (b > 0 ? "yes" : "no") }')
printf '%s s stereo 44.1 kHz, %d threads, best of %d\n' "$secs" "$threads" "$repeats"
printf 'roofline: sgemm %.1f GFLOP/s, bf16 %s (tests/tools/gemm-peak, 2048³)\n' "$sgemm" \
	"$([ "$has_bf16" = yes ] && printf '%.1f GFLOP/s' "$bf16" || echo 'none: bf16 runs are f32')"
for c in $configs; do
	cfg=configs/$c.ini model=$tmp/$c.safetensors
	"$BINDIR/sepnet-fwd" --init -c "$cfg" -o "$model"
	info=$("$BINDIR/sepnet-fwd" --info -m "$model")
	params=$(awk '/^parameters/ { print $2 }' <<<"$info")
	# the model's GEMM FLOPs per audio second (torch_model.py's count)
	flops=$(awk -v secs="$secs" -F' = ' '
		{ v[$1] = $2 }
		END {
			C = v["channels"]; F = v["n_fft"] / 2 + 1; hop = v["hop_length"]
			S = split(v["sources"], _, ","); d = v["emb_dim"]; A = v["attention_dim"]
			nw = split(v["ffn_hidden_dim"], w, ","); block = 4 * A * d; prev = d
			for (j = 1; j <= nw; j++) { block += prev * w[j]; prev = w[j] }
			block += prev * d
			T = 1 + int(secs * 44100 / hop); L = 1 + int(v["segment_length"] / hop)
			if (T <= L) { n = 1; L = T }
			else {
				step = L - int(0.25 * L + 0.5); n = int((T - L) / step) + 1
				if ((n - 1) * step + L < T) n++
			}
			frame = 2 * (2 * C * F * d + v["n_layers"] * (block + 2 * L * A) + d * S * 2 * C * F)
			printf "%.6g", n * L * frame / secs }' <<<"$info")
	fft=$(awk -F' = ' '{ v[$1] = $2 } END { n = v["n_fft"]
		printf "%.6g", (1 + 44100 / v["hop_length"]) * v["channels"] * 2.5 * n * log(n) / log(2) }' <<<"$info")
	S=$(awk -F' = ' '/^sources/ { print split($2, _, ",") }' <<<"$info")
	printf '%s (%s parameters, %.2f GFLOP per audio second)\n' "$c" "$params" "$(awk -v f="$flops" 'BEGIN { print f / 1e9 }')"
	# model_sgemm= model_bf16=; 0 for an architecture gemm-peak -m does not time
	eval "$("$OBJDIR/tests/tools/gemm-peak" -m "$cfg" 2>/dev/null || echo model_sgemm=0 model_bf16=0)"
	[ "$has_bf16" = yes ] || model_bf16=$model_sgemm
	[ "$model_sgemm" = 0 ] ||
		printf '  its GEMMs alone at their shapes: %.1f GFLOP/s f32 (%.0f%% of sgemm 2048³), %.1f bf16 (%.0f%%)\n' \
			"$model_sgemm" "$(awk -v a="$model_sgemm" -v b="$sgemm" 'BEGIN { print 100 * a / b }')" \
			"$model_bf16" "$(awk -v a="$model_bf16" -v b="$([ "$has_bf16" = yes ] && echo "$bf16" || echo "$sgemm")" 'BEGIN { print 100 * a / b }')"

	"$BINDIR/stft" -c "$cfg" < "$song" > "$tmp/spec.snt"
	"$BINDIR/sepnet-fwd" -m "$model" < "$tmp/spec.snt" > "$tmp/stems.snt"
	t_stft=$(best_of "'$BINDIR/stft' -c '$cfg' < '$song' > '$tmp/s.snt'")
	t_f32=$(best_of "'$BINDIR/sepnet-fwd' --precision f32 -m '$model' < '$tmp/spec.snt' > /dev/null")
	t_bf16=$(best_of "'$BINDIR/sepnet-fwd' --precision bf16 -m '$model' < '$tmp/spec.snt' > /dev/null")
	t_istft=$(best_of "'$BINDIR/istft' < '$tmp/stems.snt' > /dev/null")
	printf '  %-26s %-28s %9s %8s %8s\n' stage "" GFLOP/s "of peak" "of GEMMs"
	stage() {	# name seconds flops-per-audio-second peak model-GEMM-rate
		awk -v n="$1" -v t="$2" -v f="$3" -v p="$4" -v m="$5" -v a="$secs" 'BEGIN {
			g = f * a / t / 1e9
			printf "  %-26s %7.3f s %7.1f x realtime %9.1f %8s %8s\n", n, t, a / t, g,
				(p > 0 ? sprintf("%.0f%%", 100 * g / p) : ""),
				(m > 0 ? sprintf("%.0f%%", 100 * g / m) : "") }'
	}
	stage "stft (file to file)" "$t_stft" "$fft" 0 0
	stage "sepnet-fwd f32" "$t_f32" "$flops" "$sgemm" "$model_sgemm"
	stage "sepnet-fwd bf16" "$t_bf16" "$flops" "$([ "$has_bf16" = yes ] && echo "$bf16" || echo "$sgemm")" "$model_bf16"
	stage "istft (${S} stems)" "$t_istft" "$(awk -v f="$fft" -v s="$S" 'BEGIN { print f * s }')" 0 0

	declare -A best=()
	for p in f32 bf16; do
		best[$p]=$(best_of "'$BINDIR/stft' -c '$cfg' < '$song' | '$BINDIR/sepnet-fwd' --precision $p -m '$model' | '$BINDIR/istft' > /dev/null")
	done
	"$BINDIR/stft" -c "$cfg" < "$song" |
		/usr/bin/time -f %M -o "$tmp/rss" "$BINDIR/sepnet-fwd" -m "$model" > /dev/null
	rss=$(awk '{ printf "%.0f", $1 / 1024 }' "$tmp/rss")
	for p in f32 bf16; do
		peak=$sgemm own=$model_sgemm
		[ $p = bf16 ] && [ "$has_bf16" = yes ] && peak=$bf16 own=$model_bf16
		printf '  sepnet %-4s stft | sepnet-fwd | istft  %s  (GEMM bound %.1f x realtime: %.0f%% of it%s)\n' \
			$p "$(xrt "${best[$p]}")" "$(awk -v g="$peak" -v f="$flops" 'BEGIN { print g * 1e9 / f }')" \
			"$(awk -v g="$peak" -v f="$flops" -v s="${best[$p]}" -v a="$secs" 'BEGIN { print 100 * (a / s) / (g * 1e9 / f) }')" \
			"$(awk -v g="$own" -v f="$flops" -v s="${best[$p]}" -v a="$secs" 'BEGIN {
				if (g > 0) printf "; its GEMMs alone %.1f: %.0f%%", g * 1e9 / f, 100 * (a / s) / (g * 1e9 / f) }')"
	done
	echo "  (sepnet-fwd peak RSS $rss MiB)"
	if out=$(/usr/bin/python3 tests/bench/torch_model.py "$model" "$secs" "$threads" "$repeats" 2>&1); then
		eval "$out"	# torch= gflops= flops_per_sec=
		printf '  torch  f32  stft + model + istft       %s\n' "$(xrt "$torch")"
		awk -v s="${best[f32]}" -v b="${best[bf16]}" -v t="$torch" -v g="$gflops" 'BEGIN {
			printf "  ratio  torch / sepnet: f32 %.2fx, bf16 %.2fx (>1: sepnet faster)\n", t / s, t / b
			printf "  (numpy'"'"'s own sgemm through OpenBLAS here: %.1f GFLOP/s)\n", g }'
	else
		echo "  torch  not available (/usr/bin/python3 with torch and numpy): no ratio"
		echo "$out" | tail -1 | sed 's/^/  /'
	fi
done
