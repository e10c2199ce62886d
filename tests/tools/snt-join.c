/* snt-join: an SNT stream with its chunked tracks (lib/io/chunked.h)
 * joined into whole-track records, the other records copied; the tests
 * compare a chunked pipeline's output with the whole track's this way.
 * Holds one track in memory. */
#include <stdlib.h>
#include <string.h>

#include "chunked.h"
#include "snt.h"
#include "util.h"

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc > 2)
		die_usage("usage: snt-join [FILE]");
	struct snt_reader *r = snt_reader_open(argc == 2 ? argv[1] : "-");
	if (!r)
		die("%s:", argc == 2 ? argv[1] : "-");
	struct snt_writer *w = snt_writer_open("-");
	struct snt_header h, first;
	struct chunk_seq seq = { 0 };
	snt_header_init(&h);
	snt_header_init(&first);
	char **parts = NULL;	/* the track's payloads */
	int64_t *len = NULL, nparts = 0, total = 0;
	while (snt_read_header_or_die(r, &h)) {
		struct chunk_pos pos;
		char err[512];
		int64_t n = h.rank ? h.shape[h.rank - 1] : 1;
		if (chunk_seq_next(&seq, &h, n, &pos, err, sizeof err))
			die("%s: record %lld: %s", r->name, (long long)r->record, err);
		char *p = snt_read_payload_alloc_or_die(r, &h);
		if (!pos.chunked) {
			snt_write_header(w, &h);
			snt_write_payload(w, p, snt_payload_bytes(&h));
			free(p);
			continue;
		}
		if (pos.index == 0) {
			snt_header_free(&first);
			snt_header_copy(&first, &h);
		}
		parts = xrealloc(parts, (nparts + 1) * sizeof *parts);
		len = xrealloc(len, (nparts + 1) * sizeof *len);
		parts[nparts] = p, len[nparts++] = n, total += n;
		if (!pos.last)
			continue;
		size_t el = snt_dtype_size(first.dtype);
		int64_t rows = snt_numel(&first) / first.shape[first.rank - 1];
		char *out = xmalloc(el * rows * total + 1);
		for (int64_t q = 0, at = 0; q < nparts; at += len[q++]) {
			for (int64_t i = 0; i < rows; i++)
				memcpy(out + el * (i * total + at), parts[q] + el * i * len[q], el * len[q]);
			free(parts[q]);
		}
		int64_t shape[SNT_MAX_RANK];
		memcpy(shape, first.shape, sizeof shape);
		shape[first.rank - 1] = total;
		snt_header_set_shape(&first, first.rank, shape);
		chunk_pos_set(&first, &(struct chunk_pos){ 0 });
		snt_write_header(w, &first);
		snt_write_payload(w, out, el * rows * total);
		free(out);
		nparts = total = 0;
	}
	char err[512];
	if (chunk_seq_end(&seq, err, sizeof err))
		die("%s: %s", r->name, err);
	chunk_seq_free(&seq);
	free(parts);
	free(len);
	snt_header_free(&h);
	snt_header_free(&first);
	snt_reader_close(r);
	snt_writer_close(w);
	return 0;
}
