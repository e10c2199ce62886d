# sepnet: the only build system (GNU make).
#
#   make            lib/libsepnet.a and every tool into bin/
#   make test       install missing Debian packages, build, run every test
#   make deps       install the Debian packages of docs/DESIGN.md §1 when missing
#   make demo       the bundled demo
#   make default-model  retrain models/demo.safetensors on rendered songs and
#                   measure it on held-out ones (about 60 min on 2 cores)
#   make bench      benchmarks (ratios against PyTorch, measured side by side)
#   make golden     regenerate tests/golden/ with Debian's python3-torch
#   make check-sanitize  the whole suite on an ASan+UBSan build (CI runs it)
#   make fuzz FUZZ_SECONDS=N  libFuzzer harnesses of tests/fuzz (clang)
#   make install PREFIX=/usr/local
#
# NO_CUDA=1 forces the CPU build; NO_MPI=1 builds sepnet-train without MPI;
# ARCH=native tunes for this machine;
# OBJDIR=… BINDIR=… put build output elsewhere (parallel builds of one tree).

SHELL := /bin/bash
CC ?= cc
ARCH ?= x86-64-v3
PREFIX ?= /usr/local
OBJDIR ?= build
BINDIR ?= bin
CUDA_HOME ?= /usr/local/cuda

CFLAGS ?= -O3 -g
# lib/'s folders are its layers, lowest first: a file includes from its own
# folder or one before it (docs/DESIGN.md §1)
LIB_LAYERS := util io dsp ops backend model train data eval
LIB_INCLUDES := $(LIB_LAYERS:%=-Ilib/%)
# -fno-trapping-math: nothing here reads the FP exception flags, and GCC
# will not turn a float compare-and-select (the clamps of ops.h's
# exp_fast, tanh, sigmoid) into a vector select without it; it changes no
# arithmetic (no reassociation: results stay bit for bit)
CFLAGS += -std=c11 -D_GNU_SOURCE -march=$(ARCH) -fno-trapping-math -Wall -Wextra $(LIB_INCLUDES) -MMD -MP $(EXTRA_CFLAGS) \
	-DSEPNET_SOURCE_DIR='"$(CURDIR)"'
LDFLAGS += $(EXTRA_LDFLAGS)
LDLIBS := -lsndfile -lsoxr -linih -lfftw3f -lfftw3f_threads -lfftw3 -lopenblas -ldnnl -lcjson -lfluidsynth -lpthread -lm

# make-dataset --render's SoundFonts: the training set (FluidR3, MuseScore
# General, csound's GM bank, two AVL drum kits) and TimGM6mb, held out
SOUNDFONTS := fluid-soundfont-gm musescore-general-soundfont csound-soundfont \
	avldrums.lv2-soundfont timgm6mb-soundfont
# required to build and test; optional ones only draw pictures (gnuplot):
# their absence is a notice, never a failure of work already done
DEBIAN_PACKAGES := build-essential libsndfile1-dev libsoxr-dev libinih-dev libfftw3-dev \
	libopenblas-dev libdnnl-dev libcjson-dev bats bats-assert bats-support sox time libopenmpi-dev openmpi-bin \
	libfluidsynth-dev $(SOUNDFONTS)
DEBIAN_OPTIONAL := gnuplot-nox

# ---- what this machine has (one ✓/✗ line each) ----
have_header = $(shell printf '\#include <%s>\n' $(1) | $(CC) -E -x c - >/dev/null 2>&1 && echo y)
HAVE_SNDFILE := $(call have_header,sndfile.h)
HAVE_SOXR := $(call have_header,soxr.h)
HAVE_INIH := $(call have_header,ini.h)
HAVE_FFTW := $(call have_header,fftw3.h)
HAVE_CBLAS := $(call have_header,cblas.h)
HAVE_DNNL := $(call have_header,oneapi/dnnl/dnnl.h)
HAVE_CJSON := $(call have_header,cjson/cJSON.h)
HAVE_FLUIDSYNTH := $(call have_header,fluidsynth.h)
HAVE_OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null >/dev/null 2>&1 && echo y)
NVCC := $(shell command -v nvcc 2>/dev/null || { test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc; })
ifneq ($(NO_CUDA),)
NVCC :=
endif

# MPI for data-parallel sepnet-train (lib/train/dist.c): Open MPI or MPICH,
# through its compiler wrapper, which links every binary (--as-needed: only
# those that use MPI depend on it); NO_MPI=1 builds without
MPICC ?= mpicc
ifeq ($(NO_MPI),)
HAVE_MPI := $(shell command -v $(MPICC) >/dev/null 2>&1 && echo y)
endif
ifeq ($(HAVE_MPI),y)
CFLAGS += -DSEPNET_MPI
MPI_WRAP := OMPI_CC="$(CC)" MPICH_CC="$(CC)" $(MPICC)
MPI_CFLAGS := $(shell $(MPI_WRAP) --showme:compile 2>/dev/null || $(MPI_WRAP) -compile_info 2>/dev/null | tr ' ' '\n' | grep '^-I' | tr '\n' ' ')
CFLAGS += $(MPI_CFLAGS)
LINK := $(MPI_WRAP)
LDFLAGS += -Wl,--as-needed
else
LINK := $(CC)
endif

ifeq ($(HAVE_OPENMP),y)
CFLAGS += -fopenmp
LDFLAGS += -fopenmp
endif

LIB_SRCS := $(foreach l,$(LIB_LAYERS),$(wildcard lib/$(l)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJDIR)/%.o)
CU_SRCS := $(wildcard cuda/*.cu)
CU_OBJS :=
ifneq ($(NVCC),)
ifneq ($(CU_SRCS),)
CU_OBJS := $(CU_SRCS:%.cu=$(OBJDIR)/%.o)
# the CUDA backend is a plugin the tools dlopen when they use it
# (lib/backend/backend.c): a CPU run loads no cuBLAS (about 200 MB resident)
PLUGIN := $(BINDIR)/sepnet-cuda.so
CFLAGS += -DSEPNET_CUDA -DSEPNET_PLUGIN_DIR='"$(abspath $(BINDIR))"'
# the plugin calls the program's die()
LDFLAGS += -Wl,--export-dynamic-symbol=die
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcufft -lcudart -lstdc++
endif
endif
NVCCFLAGS ?= -O3 -lineinfo
NVCCFLAGS += -std=c++17 $(LIB_INCLUDES) -Icuda -MMD -MP -gencode arch=compute_90,code=sm_90 \
	-gencode arch=compute_90,code=compute_90 -Xcompiler -Wall,-Wextra,-fPIC,-march=$(ARCH)

TOOLS := $(patsubst tools/%.c,%,$(wildcard tools/*.c))
TOOL_BINS := $(TOOLS:%=$(BINDIR)/%)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(OBJDIR)/tests/%)
TEST_TOOL_SRCS := $(wildcard tests/tools/*.c)
TEST_TOOL_BINS := $(TEST_TOOL_SRCS:tests/tools/%.c=$(OBJDIR)/tests/tools/%)
LIBA := $(if $(filter build,$(OBJDIR)),lib/libsepnet.a,$(OBJDIR)/libsepnet.a)

.PHONY: all check-deps deps test unit demo bench wisdom golden install clean check-sanitize fuzz
.SECONDARY:
.DEFAULT_GOAL := all

all: check-deps $(TOOL_BINS) $(PLUGIN) $(UNIT_BINS) $(TEST_TOOL_BINS)

check = @if [ "$(1)" = y ]; then echo "✓ $(2)"; else echo "✗ $(2): $(3)"; fi
check-deps:
	$(call check,$(HAVE_SNDFILE),libsndfile,missing (make deps))
	$(call check,$(HAVE_SOXR),libsoxr,missing (make deps))
	$(call check,$(HAVE_INIH),inih,missing (make deps))
	$(call check,$(HAVE_FFTW),fftw3f,missing (make deps))
	$(call check,$(HAVE_CBLAS),openblas,missing (make deps))
	$(call check,$(HAVE_DNNL),onednn,missing (make deps))
	$(call check,$(HAVE_CJSON),cjson,missing (make deps))
	$(call check,$(HAVE_FLUIDSYNTH),fluidsynth,missing (make deps))
	$(call check,$(HAVE_OPENMP),openmp,building single-threaded)
	$(call check,$(if $(NVCC),y),nvcc$(if $(NVCC), $(NVCC)),$(if $(NO_CUDA),NO_CUDA set,not found): skipping CUDA)
	$(call check,$(HAVE_MPI),mpi $(MPICC),$(if $(NO_MPI),NO_MPI set,no mpicc (make deps)): sepnet-train runs one process)
	@missing=""; for v in "$(HAVE_SNDFILE)" "$(HAVE_SOXR)" "$(HAVE_INIH)" "$(HAVE_FFTW)" "$(HAVE_CBLAS)" "$(HAVE_DNNL)" "$(HAVE_CJSON)" "$(HAVE_FLUIDSYNTH)"; do \
		[ "$$v" = y ] || missing=1; done; \
	if [ -n "$$missing" ]; then echo "missing libraries: run 'make deps' (as root) first" >&2; exit 1; fi

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(OBJDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(OBJDIR)/cuda/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(PLUGIN): $(CU_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(CU_OBJS) $(CUDA_LDLIBS) -o $@

$(BINDIR)/%: $(OBJDIR)/tools/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(LINK) $(LDFLAGS) $< $(LIBA) $(LDLIBS) -o $@

$(OBJDIR)/tests/%: $(OBJDIR)/tests/unit/%.o $(LIBA)
	$(LINK) $(LDFLAGS) $< $(LIBA) $(LDLIBS) -o $@

$(OBJDIR)/tests/tools/%: $(OBJDIR)/tests/tools/%.o $(LIBA)
	$(LINK) $(LDFLAGS) $< $(LIBA) $(LDLIBS) -o $@

# as root: install what is missing; otherwise name it and the command
# that installs it, and fail only when a required package is missing
deps:
	@missing="" optional=""; for p in $(DEBIAN_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for p in $(DEBIAN_OPTIONAL); do \
		dpkg -s $$p >/dev/null 2>&1 || optional="$$optional $$p"; done; \
	if [ -z "$$missing$$optional" ]; then echo "✓ Debian packages"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian packages:$$missing$$optional"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing$$optional; \
	elif [ -n "$$missing" ]; then \
		echo "missing Debian packages:$$missing$$optional; run as root: apt-get update && apt-get install -y$$missing$$optional" >&2; exit 1; \
	else \
		echo "✗ optional Debian packages:$$optional (pictures are skipped; as root: apt-get install -y$$optional)"; \
	fi

# the build of make test and check-sanitize on every core (a plain make
# runs as make's own -j says)
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all
	@OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) tests/run

# the suite on an ASan+UBSan build (CPU only, build-sanitize/), leaks
# checked at every exit; a finding fails the test that caused it.  Three
# suites are left out, their tools' paths being run under the sanitizer by
# others, to keep CI within its 15 minutes: 15-readme (the README's
# commands: the tools of 10- to 66-, and base.ini's first training step
# under ASan, a minute and a half), 58-gpu-check (check.sh's dry run:
# check-ops and check-train, which 56- and 57- run) and 75-experiment (the
# experiment Makefile's chains of those tools, 45 s); SEPNET_SANITIZE
# skips the learning test of 60-sepnet-train (a minute of steps the
# suite's other tests run too)
SAN_SKIP := 15-readme.bats 58-gpu-check.bats 75-experiment.bats
SAN_DIR := build-sanitize
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# (the flags go to the tests' environment too: a test that runs make, such
# as make install, builds the same way)
check-sanitize: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all OBJDIR=$(SAN_DIR) BINDIR=$(SAN_DIR)/bin NO_CUDA=1 \
		EXTRA_CFLAGS="-O1 $(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)"
	@NO_CUDA=1 EXTRA_CFLAGS="-O1 $(SAN_FLAGS)" EXTRA_LDFLAGS="$(SAN_FLAGS)" ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99:$(ASAN_OPTIONS) \
		LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize.supp:print_suppressions=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 SEPNET_SKIP="$(SAN_SKIP)" SEPNET_SANITIZE=1 \
		OBJDIR=$(SAN_DIR) BINDIR=$(SAN_DIR)/bin tests/run

# libFuzzer harnesses (tests/fuzz/fuzz_*.c, clang) over the SNT reader, the
# INI loader, the safetensors loader and the audio readers: each runs
# FUZZ_SECONDS on seed corpora the tools make (build-fuzz/corpus), with the
# reproducers of tests/fuzz/regressions among them; a finding stops make
# with the crashing input written to build-fuzz/ (make -j2 fuzz: two at once)
FUZZ_DIR := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES := snt config safetensors audio
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
.PHONY: fuzz-build $(FUZZ_HARNESSES:%=fuzz-run-%)
fuzz: $(FUZZ_HARNESSES:%=fuzz-run-%)

fuzz-build: all
	@command -v clang > /dev/null || { echo "make fuzz needs clang (as root: apt-get install clang)" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(FUZZ_DIR)/libsepnet.a CC=clang OBJDIR=$(FUZZ_DIR) \
		NO_CUDA=1 NO_MPI=1 EXTRA_CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)"
	@omp=$$(echo 'int main(void){return 0;}' | clang -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp); \
	for h in $(FUZZ_HARNESSES); do \
		clang -O1 -g $(LIB_INCLUDES) -fsanitize=fuzzer $(FUZZ_SAN) $$omp tests/fuzz/fuzz_$$h.c \
			$(FUZZ_DIR)/libsepnet.a $(LDLIBS) -o $(FUZZ_DIR)/fuzz_$$h || exit 1; done
	@rm -rf $(FUZZ_DIR)/corpus && OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) tests/fuzz/make-corpus.sh $(FUZZ_DIR)/corpus

# one harness (make -j2 fuzz runs two at a time)
$(FUZZ_HARNESSES:%=fuzz-run-%): fuzz-run-%: fuzz-build
	@cd $(FUZZ_DIR) && LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize.supp:print_suppressions=0 \
		./fuzz_$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 corpus/$* 2> fuzz_$*.log || \
		{ tail -40 fuzz_$*.log; echo "fuzz_$*: a finding (input in $(FUZZ_DIR)/)" >&2; exit 1; }
	@echo "fuzz_$*: $(FUZZ_SECONDS) s, no finding;" \
		$$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' $(FUZZ_DIR)/fuzz_$*.log | tr -s ' ' | tr '\n' ' ')

unit: all
	@OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) tests/run --unit

demo: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all
	@OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) examples/demo.sh

.PHONY: default-model
default-model: all
	@OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} \
		examples/default-model.sh -c configs/default.ini -o runs/default -m models/demo.safetensors

bench: all
	@OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) tests/bench/run

# FFTW's measured plans for the STFT's sizes, compiled in (lib/dsp/fft.c):
# made anew on this machine, then rebuilt with them
wisdom: all
	$(OBJDIR)/tests/tools/fft-wisdom > lib/dsp/fft_wisdom.inc.tmp
	mv lib/dsp/fft_wisdom.inc.tmp lib/dsp/fft_wisdom.inc
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all

# the references from PyPI, in a venv over Debian's python3-torch, numpy
# and scipy: the band-split model's (the bs-roformer package,
# tests/reference/golden-bsroformer.py) and the Wiener filter's (norbert,
# tests/reference/golden-wiener.py)
BSR_VENV = $(OBJDIR)/venv-bsroformer
golden: all $(BSR_VENV)/.installed
	@for g in tests/reference/golden-*.py; do echo "== $$g"; py=/usr/bin/python3; \
		case $$g in *bsroformer*|*wiener*) py=$(BSR_VENV)/bin/python;; esac; \
		OBJDIR=$(OBJDIR) BINDIR=$(BINDIR) $$py $$g || exit 1; done

$(BSR_VENV)/.installed:
	[ -x $(BSR_VENV)/bin/python ] || /usr/bin/python3 -m venv --system-site-packages $(BSR_VENV)
	$(BSR_VENV)/bin/pip install -q --no-deps BS-RoFormer==0.3.10 einops==0.8.2 \
		beartype==0.23.1 rotary-embedding-torch==0.3.0 packaging norbert==0.2.1
	touch $@

# binaries (with the song generator make-dataset and plot-metrics), man
# pages, and the shipped configs and models in share/sepnet, where -c NAME
# and -m NAME find them (lib/datafile.h)
SHARE := $(DESTDIR)$(PREFIX)/share/sepnet
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -d $(SHARE)/configs $(SHARE)/models $(SHARE)/examples
	install -m 755 $(TOOL_BINS) $(OBJDIR)/tests/tools/make-dataset examples/plot-metrics $(DESTDIR)$(PREFIX)/bin
	install -m 644 configs/*.ini $(SHARE)/configs
	install -m 644 models/*.safetensors $(SHARE)/models
	install -m 644 examples/snt.py $(SHARE)/examples
	$(if $(PLUGIN),install -d $(DESTDIR)$(PREFIX)/lib/sepnet && install -m 755 $(PLUGIN) $(DESTDIR)$(PREFIX)/lib/sepnet)
	$(if $(wildcard man/*.1),install -m 644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1)
	$(if $(wildcard man/*.5),install -m 644 $(wildcard man/*.5) $(DESTDIR)$(PREFIX)/share/man/man5)

clean:
	rm -rf $(OBJDIR) $(BINDIR) $(LIBA)

-include $(shell find $(OBJDIR) -name '*.d' 2>/dev/null)
