/* fuzz_snt.c: the SNT stream reader on arbitrary bytes: every header and
 * payload until the end or the first error (docs/DESIGN.md §2's refusals). */
#include "fuzz.h"

#include "snt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	struct snt_reader *r = snt_reader_from_fp(fp, "fuzz");
	struct snt_header h;
	snt_header_init(&h);
	char buf[65536];
	while (snt_read_header(r, &h) > 0) {
		// the payload in bounded pieces: a header may claim 2^40 bytes
		uint64_t left = (uint64_t)snt_numel(&h) * snt_dtype_size(h.dtype);
		while (left > 0) {
			uint64_t n = left < sizeof buf ? left : sizeof buf;
			if (snt_read_payload_part(r, buf, n))
				goto out;
			left -= n;
		}
	}
out:
	snt_header_free(&h);
	snt_reader_close(r);
	fclose(fp);
	return 0;
}
