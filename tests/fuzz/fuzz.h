/* fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share.
 *
 * Each harness is one LLVMFuzzerTestOneInput over one reader that reports
 * its errors (snt_read_header, config_parse_string, safetensors_open, the
 * audio readers' try_ variants), so a refusal is an ordinary return, not
 * an exit, and only a crash, a sanitizer report or a hang is a finding. */
#ifndef SEPNET_FUZZ_H
#define SEPNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data written to a file of its own (per process), for readers that take
 * a path; the path lives until exit */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
	static char path[256];
	if (!path[0])
		snprintf(path, sizeof path, "/tmp/sepnet-fuzz.%d%s", (int)getpid(), suffix);
	FILE *fp = fopen(path, "wb");
	if (!fp)
		abort();
	if (size && fwrite(data, 1, size, fp) != size)
		abort();
	fclose(fp);
	return path;
}

#endif
