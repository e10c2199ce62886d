#!/usr/bin/env bash
# bundle.sh: build sepnet with CUDA here and pack what tests/gpu/check.sh
# needs on a GPU machine that has the CUDA toolkit (13, as here) and PyTorch
# but none of our Debian libraries.
#
#   tests/gpu/bundle.sh          makes tests/gpu/bundle/ and its packed copy
#                                tests/gpu/bundle.tar.xz (both git-ignored;
#                                a device run carries the .tar.xz, < 64 MiB)
#
# The bundle holds the stripped tools check.sh runs (bin/) and every shared
# library they load except the CUDA ones (lib/), the C library and its
# dynamic loader included: check.sh starts each tool through
# lib/ld-linux-x86-64.so.2 --library-path, so neither the GPU machine's
# glibc version nor its libraries matter; cuBLAS, cuFFT and the CUDA runtime
# come from its /usr/local/cuda (the tools' RPATH), the driver from its
# system.  Portable code: -march=x86-64-v3, sm_90 SASS + compute_90 PTX.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/gpu/bundle
obj=${BUNDLE_OBJDIR:-/tmp/sepnet-bundle-$(id -u)}
tools=(sepnet-fwd sepnet-train stft istft musdb-cat)
checks=(check-ops check-train make-dataset)

mkdir -p "$obj"
make --no-print-directory OBJDIR="$obj" BINDIR="$obj/bin" ARCH=x86-64-v3 -j"$(nproc)" \
	"${tools[@]/#/$obj/bin/}" "$obj/bin/sepnet-cuda.so" "${checks[@]/#/$obj/tests/tools/}" \
	> "$obj/make.log" 2>&1 ||
	{ cat "$obj/make.log" >&2; echo "bundle.sh: the build failed" >&2; exit 1; }
# the CUDA backend is the plugin the tools load (lib/backend/backend.c); awk reads
# all of nm's output (grep -q would end the pipe early, and pipefail would
# take nm's SIGPIPE for a failure)
nm -D "$obj/bin/sepnet-cuda.so" 2>/dev/null |
	awk '$3 == "sepnet_cuda_open" { found = 1 } END { exit !found }' ||
	{ echo "bundle.sh: not a CUDA build (nvcc missing or NO_CUDA set)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
for t in "${tools[@]}" sepnet-cuda.so; do cp "$obj/bin/$t" "$out/bin/"; done
for t in "${checks[@]}"; do cp "$obj/tests/tools/$t" "$out/bin/"; done
strip "$out"/bin/*
# every library ldd resolves outside the CUDA toolkit, and the loader
ldd "$out"/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' |
	sort -u | grep -v -e '^/usr/local/cuda' -e 'libcuda\.so' |
	while read -r lib; do cp -L "$lib" "$out/lib/"; done
[ -e "$out/lib/ld-linux-x86-64.so.2" ] || { echo "bundle.sh: no dynamic loader found" >&2; exit 1; }
# what a device run carries: the folder packed (each tool holds its own
# copy of the CUDA kernels, so the folder is over the carry limit; xz takes
# it to about a quarter), unpacked by check.sh
tar -cJf "$out.tar.xz" -C "$(dirname "$out")" "$(basename "$out")"
size=$(du -sm "$out" | cut -f1) packed=$(du -sm "$out.tar.xz" | cut -f1)
echo "$out.tar.xz: $packed MiB ($size MiB unpacked): $(ls "$out/bin" | tr '\n' ' ')+ $(ls "$out/lib" | wc -l) libraries"
[ "$packed" -lt 64 ] || { echo "bundle.sh: $packed MiB is over the 64 MiB a device run carries" >&2; exit 1; }
