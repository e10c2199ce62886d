#!/usr/bin/env bash
# check.sh: the GPU acceptance check (issue 7, docs/DESIGN.md §7): every CUDA op and
# whole separations against the CPU, then a benchmark table.  Under 5
# minutes on one H200.
#
# Two steps, since the GPU machine has the CUDA toolkit and PyTorch but not
# our Debian libraries:
#   1. on the build machine:  tests/gpu/bundle.sh   (makes tests/gpu/bundle.tar.xz)
#   2. on the GPU machine:    tests/gpu/check.sh    (unpacks it, runs from it)
# On a machine that has everything, step 2 alone builds the bundle first.
# CUDA_LIBS=DIR adds a directory to search for cuBLAS/cuFFT/cudart 13 when
# they are not in /usr/local/cuda/lib64; SECONDS_AUDIO=N shortens the
# benchmark track (default 300); PYTHON=… names the Python with PyTorch.
#
# 1. tests/tools/check-ops: each op on fresh random inputs, GPU outputs
#    poisoned with NaN first; relative L2 error against the cpu backend:
#    f32 < 1e-5, tf32 < 2e-3, bf16 < 2e-2, no NaN.
# 2. sepnet-fwd -d cuda against -d cpu on 12 s of noise (two segments and
#    their cross-fade), models with every weight random: tiny.ini (f32) in
#    waveform and spectrogram mode, bs-tiny.ini (the band-split model) in
#    waveform mode, base.ini in f32, tf32 and bf16 (its
#    config's use_amp) waveform mode; tiny.ini on 2 s chunks and an audio
#    file streamed to files (-o); fresh output files each run.
# 4. check-train: one optimizer step of tiny.ini, bs-tiny.ini and base.ini (f32, then
#    bf16 as configured) through the trainer (lib/train/train.h: the one
#    model path) on cuda against cpu, every
#    gradient tensor compared (tolerances in tests/tools/check-train.c);
# 5. 50 steps of tiny.ini on cuda with the loss falling;
# 6. training examples/s and device memory of small, base and xlarge at
#    their configured batch sizes, and the PyTorch twin
#    (tests/gpu/torch_gpu_train.py: bf16 autocast, SDPA, fused AdamW).
# 7. data-parallel training: check-train --comm (the trainer's gradients
#    through NCCL, alone in its world, against the trainer without: the
#    same bits), and sepnet-train under mpirun -np 1 against no launcher
#    where mpirun is installed and the tools are on PATH (the bundle
#    carries no MPI launcher).
# 3. × realtime of base.ini (bf16, as configured) on a 5-minute stereo
#    track, wall time of whole processes: spectrogram mode, waveform mode
#    (and the marginal cost of one more track in a stream, which leaves out
#    start-up), the stft | sepnet-fwd | istft pipeline, and the PyTorch twin
#    (tests/gpu/torch_gpu.py: bf16 autocast, scaled_dot_product_attention,
#    timed inside Python after a warm-up) on the same GPU in the same run.
#
# check.sh --dry-run, on a machine without a GPU: the same script with the
# cpu standing in for cuda (-d cpu, check-ops/check-train --self, PyTorch
# on the CPU, tiny sizes), through the bundle: it tests the script, the
# bundle and the harness, not the GPU.  CHECK_TOOLS=path takes the tools
# from PATH instead of the bundle (make test does, tests/58-gpu-check.bats).
set -uo pipefail
dry=
[ "${1:-}" = --dry-run ] && dry=1
cd "$(dirname "$0")/../.."
B=$PWD/tests/gpu/bundle
from_path=
[ "${CHECK_TOOLS:-}" = path ] && from_path=1
if [ -z "$from_path" ] && [ ! -x "$B/bin/sepnet-fwd" ]; then	# carried packed, or built here
	if [ -e "$B.tar.xz" ]; then
		tar -xJf "$B.tar.xz" -C "$(dirname "$B")" || exit 1
	else
		tests/gpu/bundle.sh || exit 1
	fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# tool_cmd ARGS...: the command line (in cmd) that runs a bundled tool
# through the bundled loader and libraries (a dry run turns -d cuda into
# -d cpu and the checks into --self); tool ARGS... runs it
tool_cmd() {
	local t=$1 a args=()
	shift
	if [ -n "$dry" ]; then
		case $t in check-ops | check-train) [[ ${1:-} == --noise || ${1:-} == --random-model ||
			${1:-} == --compare ]] || args+=(--self) ;; esac
		for a in "$@"; do [ "$a" = cuda ] && args+=(cpu) || args+=("$a"); done
	else
		args=("$@")
	fi
	if [ -n "$from_path" ]; then
		cmd=("$t" "${args[@]}")
	else
		cmd=(env SEPNET_CUDA_PLUGIN="$B/bin/sepnet-cuda.so" "$B/lib/ld-linux-x86-64.so.2"
			--library-path "$B/lib${CUDA_LIBS:+:$CUDA_LIBS}" "$B/bin/$t" "${args[@]}")
	fi
}
tool() {
	local cmd
	tool_cmd "$@"
	timeout 240 "${cmd[@]}"
}
# torch_train CONFIG STEPS WARMUP: the PyTorch twin's training step
torch_train() {
	timeout 90 "${PYTHON:-python3}" tests/gpu/torch_gpu_train.py "$@" ${dry:+--device cpu}
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1
if [ -z "$from_path" ]; then
	missing=$("$B/lib/ld-linux-x86-64.so.2" --library-path "$B/lib${CUDA_LIBS:+:$CUDA_LIBS}" \
		--list "$B/bin/sepnet-cuda.so" | grep 'not found')
	[ -z "$missing" ] || { echo "missing libraries (set CUDA_LIBS):"; echo "$missing"; exit 1; }
fi

echo "== 1. ops: cuda against cpu"
tool check-ops || failed=1

echo "== 2. sepnet-fwd -d cuda against -d cpu"
tool check-ops --noise 12 3 > "$tmp/in.snt"
# compare NAME TOL ARGS...: sepnet-fwd ARGS on the CPU and on the GPU
compare() {
	local name=$1 tol=$2
	shift 2
	rm -f "$tmp/cpu.snt" "$tmp/gpu.snt"
	tool sepnet-fwd -d cpu "$@" > "$tmp/cpu.snt" && tool sepnet-fwd -d cuda "$@" > "$tmp/gpu.snt" &&
		printf '%-40s ' "$name" && tool check-ops --compare "$tol" "$tmp/cpu.snt" "$tmp/gpu.snt" ||
		{ echo "FAIL: $name"; failed=1; }
}
tool check-ops --random-model configs/tiny.ini "$tmp/tiny.safetensors" 7
compare "tiny f32 waveform" 1e-5 -m "$tmp/tiny.safetensors" "$tmp/in.snt"
# the band-split model (its own ops: band split, axis swaps, gates, GLU heads)
tool check-ops --random-model configs/bs-tiny.ini "$tmp/bs-tiny.safetensors" 7
compare "bs-tiny f32 waveform" 1e-5 -m "$tmp/bs-tiny.safetensors" "$tmp/in.snt"
# a stream of records of growing length: each staged ahead into a buffer
# that grows (--prefetch, the default on the GPU)
{ tool check-ops --noise 3 5; tool check-ops --noise 12 3; tool check-ops --noise 7 6; } > "$tmp/three.snt"
compare "tiny f32 waveform, 3 records, prefetch" 1e-5 -m "$tmp/tiny.safetensors" "$tmp/three.snt"
compare "tiny f32 waveform, 3 records, no prefetch" 1e-5 -m "$tmp/tiny.safetensors" --no-prefetch "$tmp/three.snt"
tool stft -d cpu -c configs/tiny.ini "$tmp/in.snt" > "$tmp/tiny-spec.snt"
compare "tiny f32 spectrogram" 1e-5 -m "$tmp/tiny.safetensors" "$tmp/tiny-spec.snt"
# chunked spectrograms: the separator's window carried across chunks
tool stft -d cpu -c configs/tiny.ini --chunk 2 "$tmp/in.snt" > "$tmp/tiny-chunks.snt"
compare "tiny f32 spectrogram, 2 s chunks" 1e-5 -m "$tmp/tiny.safetensors" "$tmp/tiny-chunks.snt"
# the Wiener post-filter (cuda/wiener.cu against lib/ops/wiener.c), over
# chunks: blocks of 6.97 s refined in the separator's window
compare "tiny f32 spectrogram, 2 s chunks, --wiener 2" 1e-4 -m "$tmp/tiny.safetensors" --wiener 2 \
	"$tmp/tiny-chunks.snt"
# an audio file streamed into files (-o): stft_stream, the separator and
# istft_stream on the device; the files compared as spectrograms
tool istft -d cpu -o "$tmp/in.wav" "$tmp/tiny-spec.snt"
for d in cpu cuda; do
	rm -rf "$tmp/$d"
	tool sepnet-fwd -d $d -m "$tmp/tiny.safetensors" -s vocals,bass -o "$tmp/$d/%s.wav" "$tmp/in.wav" &&
		tool stft -d cpu --chunk 0 "$tmp/$d/vocals.wav" "$tmp/$d/bass.wav" > "$tmp/$d.snt" ||
		{ echo "FAIL: tiny f32 streamed -o on $d"; failed=1; }
done
printf '%-40s ' "tiny f32 waveform streamed to files" &&
	tool check-ops --compare 1e-5 "$tmp/cpu.snt" "$tmp/cuda.snt" ||
	{ echo "FAIL: tiny f32 waveform streamed to files"; failed=1; }
for p in f32 tf32 bf16; do
	case $p in
	f32) sed -e 's/^use_amp = .*/use_amp = false/' -e 's/^tf32 = .*/tf32 = false/' configs/base.ini ;;
	tf32) sed -e 's/^use_amp = .*/use_amp = false/' -e 's/^tf32 = .*/tf32 = true/' configs/base.ini ;;
	bf16) cat configs/base.ini ;;
	esac > "$tmp/base-$p.ini"
	tool check-ops --random-model "$tmp/base-$p.ini" "$tmp/base-$p.safetensors" 7
done
compare "base f32 waveform" 1e-5 -m "$tmp/base-f32.safetensors" "$tmp/in.snt"
compare "base tf32 waveform" 2e-3 -m "$tmp/base-tf32.safetensors" "$tmp/in.snt"
compare "base bf16 waveform" 2e-2 -m "$tmp/base-bf16.safetensors" "$tmp/in.snt"

secs=${SECONDS_AUDIO:-300}
[ -z "$dry" ] || secs=${SECONDS_AUDIO:-5}
echo "== 3. benchmark: base.ini (bf16), $secs s stereo 44.1 kHz, best of 2"
model=$tmp/base-bf16.safetensors
tool check-ops --noise "$secs" 5 > "$tmp/song.snt"
tool stft -d cuda -c configs/base.ini "$tmp/song.snt" > "$tmp/song-spec.snt"
best() {	# best wall seconds of 2 runs of the command
	local b=1e99 t0 t
	for _ in 1 2; do
		t0=$(now)
		"$@" > /dev/null || { echo "FAIL: $*" >&2; failed=1; }
		t=$(since "$t0")
		b=$(awk -v a="$b" -v t="$t" 'BEGIN { print (t < a ? t : a) }')
	done
	echo "$b"
}
pipeline() {
	tool stft -d cuda -c configs/base.ini "$tmp/song.snt" | tool sepnet-fwd -d cuda -m "$model" |
		tool istft -d cuda
}
row() { awk -v n="$1" -v t="$2" -v a="$secs" 'BEGIN { printf "  %-46s %8.3f s %8.1f x realtime\n", n, t, a / t }'; }
row "sepnet-fwd spectrogram mode (c64 in and out)" "$(best tool sepnet-fwd -m "$model" "$tmp/song-spec.snt")"
one=$(best tool sepnet-fwd -m "$model" "$tmp/song.snt")
row "sepnet-fwd waveform mode (f32 in and out)" "$one"
# a stream of two tracks: the second one's cost, without start-up and CUDA init
cat "$tmp/song.snt" "$tmp/song.snt" > "$tmp/song2.snt"
two=$(best tool sepnet-fwd -m "$model" "$tmp/song2.snt")
row "  each further track of a stream (t2 - t1)" "$(awk -v a="$one" -v b="$two" 'BEGIN { print b - a }')"
row "stft | sepnet-fwd | istft" "$(best pipeline)"
if [ -n "$dry" ]; then
	echo "  (PyTorch inference twin: GPU only, not in a dry run)"
elif out=$(timeout 240 "${PYTHON:-python3}" tests/gpu/torch_gpu.py "$model" "$secs" 2 8 2>&1); then
	eval "$(grep -E '^torch(_version)?=' <<<"$out")"
	row "PyTorch $torch_version twin (bf16 autocast, SDPA)" "$torch"
else
	echo "  PyTorch twin failed:"
	tail -3 <<<"$out" | sed 's/^/    /'
fi

echo "== 4. training (issue 8): one step, cuda against cpu"
tool check-train --batch 2 configs/tiny.ini || failed=1
tool check-train --batch 2 configs/bs-tiny.ini || failed=1
# base: f32 for a tight check of every kernel, then as configured (bf16)
if [ -n "$dry" ]; then	# base on the CPU twice over: a minute; tiny says enough
	echo "  (base: not in a dry run)"
else
	tool check-train --batch 2 "$tmp/base-f32.ini" || failed=1
	tool check-train --batch 2 configs/base.ini || failed=1
fi
echo "== 5. steps of tiny.ini on cuda: the loss falls"
learn_steps=50
[ -z "$dry" ] || learn_steps=15
tool check-train --learn $learn_steps configs/tiny.ini | tail -1
[ "${PIPESTATUS[0]}" = 0 ] || failed=1

echo "== 6. training benchmark: examples/s and device memory at the configured batch"
printf '  %-8s %-34s %12s %12s\n' config trainer "examples/s" "memory GiB"
bench_configs="small base xlarge" bench_steps=10 warmup=3
[ -z "$dry" ] || bench_configs=tiny bench_steps=2 warmup=1
for c in $bench_configs; do
	if out=$(tool check-train --bench $bench_steps configs/$c.ini 2>&1); then
		peak_mem_gib=nan
		eval "$(grep -E '^(examples_per_s|peak_mem_gib)=' <<<"$out")"
		printf '  %-8s %-34s %12.1f %12.2f\n' $c "sepnet (sepnet-train's step)" "$examples_per_s" "$peak_mem_gib"
		[ $c != base ] || base_eps=$examples_per_s
	else
		echo "  $c: sepnet failed: $(tail -1 <<<"$out")"
		failed=1
	fi
	if out=$(torch_train configs/$c.ini $bench_steps $warmup 2>&1); then
		eval "$(grep -E '^(examples_per_s|peak_mem_gib|attention|adamw|amp|torch_version)=' <<<"$out")"
		printf '  %-8s %-34s %12.1f %12.2f\n' $c "PyTorch $torch_version ($attention, $adamw AdamW, $amp)" \
			"$examples_per_s" "$peak_mem_gib"
	else
		echo "  $c: PyTorch twin failed: $(tail -1 <<<"$out")"
	fi
done
[ -z "${base_eps:-}" ] ||
	awk -v e="$base_eps" 'BEGIN { printf "  base: an epoch of 2000 ten-second examples takes %.1f s (goal: under 20 s)\n", 2000 / e }'
# (check-train --bench times the trainer's step that sepnet-train
# runs, on stems held in memory as the PyTorch script's are; the tool on a
# musdb-cat pipe needs the data set and musdb-cat, which are not bundled)

echo "== 7. data-parallel training (issue 17): NCCL, and a launch of one rank"
# the trainer's gradients through NCCL (lib/train/dist.h) as a rank's, alone
# in its world, against the trainer without: the same bits
tool check-train --comm 20 configs/tiny.ini || failed=1
# sepnet-train under mpirun -np 1 (MPI, and NCCL on cuda) against no launcher,
# with the tools on PATH: the bundle's libmpi would need its Open MPI's
# components and launcher, which it does not carry
if [ -n "$from_path" ] && command -v mpirun > /dev/null; then
	tool make-dataset --seed 3 --train 4 --test 0 --seconds 3 "$tmp/ds" > /dev/null &&
		tool musdb-cat train -r "$tmp/ds" -c configs/tiny.ini -n 40 > "$tmp/train.snt" ||
		{ echo "FAIL: training records"; failed=1; }
	for how in alone mpirun; do
		tool_cmd sepnet-train -d cuda -c configs/tiny.ini -o "$tmp/$how" --steps 10 -q "$tmp/train.snt"
		# (leak checks off under make check-sanitize: Open MPI's unloaded
		# components leave leaks no one can name; see tests/64-dist.bats)
		[ $how = alone ] || cmd=(env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
			mpirun --allow-run-as-root --oversubscribe -np 1 "${cmd[@]}")
		timeout 240 "${cmd[@]}" || { echo "FAIL: sepnet-train ($how)"; failed=1; }
	done
	if cmp -s "$tmp/alone/last.safetensors" "$tmp/mpirun/last.safetensors"; then
		echo "  sepnet-train under mpirun -np 1: the checkpoint of the run without (same bytes)"
	else
		echo "FAIL: sepnet-train under mpirun -np 1 differs from the run without"
		failed=1
	fi
else
	echo "  (sepnet-train under mpirun -np 1: needs the tools on PATH and mpirun (CHECK_TOOLS=path); tests/64-dist.bats runs it on the CPU)"
fi

[ $failed = 0 ] && echo "check.sh: every check passed" || echo "check.sh: FAILED"
exit $failed
