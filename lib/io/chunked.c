/* chunked.c: chunk keys and their order (chunked.h). */
#include "chunked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* key as a non-negative integer: 1 set, 0 absent, -1 malformed */
static int key_count(const struct snt_header *h, const char *key, int64_t *v, char *err,
		     size_t errlen)
{
	const char *s = snt_header_get(h, key);
	if (!s)
		return 0;
	if (parse_int64(s, v) || *v < 0) {
		snprintf(err, errlen, "malformed %s=%s (a count from 0)", key, s);
		return -1;
	}
	return 1;
}

int chunk_pos_get(const struct snt_header *h, struct chunk_pos *c, char *err, size_t errlen)
{
	int64_t extent = h->rank ? h->shape[h->rank - 1] : 1, last = 0;
	*c = (struct chunk_pos){ .total = extent, .last = true };
	int k = key_count(h, "chunk", &c->index, err, errlen);
	if (k <= 0)
		return k;
	c->chunked = true;
	c->total = -1;
	k = key_count(h, "offset", &c->offset, err, errlen);
	if (k < 0)
		return -1;
	if (k == 0) {
		snprintf(err, errlen, "chunk=%lld without offset=", (long long)c->index);
		return -1;
	}
	if (key_count(h, "total", &c->total, err, errlen) < 0 ||
	    key_count(h, "last", &last, err, errlen) < 0)
		return -1;
	if (!snt_header_get(h, "total"))
		c->total = -1;
	if (last > 1) {
		snprintf(err, errlen, "malformed last=%lld (1 on the final chunk)", (long long)last);
		return -1;
	}
	c->last = last == 1;
	if (c->total >= 0 && (c->offset > c->total || extent > c->total - c->offset)) {
		snprintf(err, errlen, "chunk at offset %lld of %lld ends past total=%lld",
			 (long long)c->offset, (long long)extent, (long long)c->total);
		return -1;
	}
	if (c->last && c->total >= 0 && c->offset + extent != c->total) {
		snprintf(err, errlen, "last chunk ends at %lld, total=%lld",
			 (long long)(c->offset + extent), (long long)c->total);
		return -1;
	}
	return 0;
}

void chunk_pos_set(struct snt_header *h, const struct chunk_pos *c)
{
	static const char *const keys[] = { "chunk", "offset", "total", "last" };
	for (int k = 0; k < 4; k++)
		snt_header_del(h, keys[k]);
	if (!c->chunked)
		return;
	snt_header_setf(h, "chunk", "%lld", (long long)c->index);
	snt_header_setf(h, "offset", "%lld", (long long)c->offset);
	if (c->total >= 0)
		snt_header_setf(h, "total", "%lld", (long long)c->total);
	if (c->last)
		snt_header_set(h, "last", "1");
}

static const char *track_of(const struct snt_header *h)
{
	const char *t = snt_header_get(h, "track");
	return t ? t : "";
}

int chunk_seq_next(struct chunk_seq *q, const struct snt_header *h, int64_t extent,
		   struct chunk_pos *c, char *err, size_t errlen)
{
	if (chunk_pos_get(h, c, err, errlen))
		return -1;
	if (q->open && (!c->chunked || strcmp(q->track, track_of(h)) != 0)) {
		snprintf(err, errlen, "track '%s' ends before its last chunk (chunk %lld was next)",
			 q->track, (long long)q->next_index);
		return -1;
	}
	if (!c->chunked)
		return 0;
	if (!q->open) {
		if (c->index != 0 || c->offset != 0) {
			snprintf(err, errlen, "track '%s' starts at chunk=%lld offset=%lld, not 0",
				 track_of(h), (long long)c->index, (long long)c->offset);
			return -1;
		}
		free(q->track);
		q->track = xstrdup(track_of(h));
		q->open = true;
		q->next_index = q->next_offset = 0;
		q->total = c->total;
		q->rank = h->rank, q->dtype = h->dtype;
		memcpy(q->lead, h->shape, sizeof q->lead);
	}
	bool same = h->rank == q->rank && h->dtype == q->dtype && h->rank >= 1;
	for (int k = 0; same && k < h->rank - 1; k++)
		same = h->shape[k] == q->lead[k];
	if (!same) {
		snprintf(err, errlen, "track '%s': chunk %lld is %s of rank %d, not of the first "
			 "chunk's dtype and shape (only the last axis may differ)", q->track,
			 (long long)c->index, snt_dtype_name(h->dtype), h->rank);
		return -1;
	}
	if (c->index != q->next_index || c->offset != q->next_offset) {
		snprintf(err, errlen, "track '%s': chunk=%lld offset=%lld, expected chunk=%lld "
			 "offset=%lld", q->track, (long long)c->index, (long long)c->offset,
			 (long long)q->next_index, (long long)q->next_offset);
		return -1;
	}
	if (c->total >= 0 && q->total >= 0 && c->total != q->total) {
		snprintf(err, errlen, "track '%s': total=%lld, an earlier chunk said %lld", q->track,
			 (long long)c->total, (long long)q->total);
		return -1;
	}
	if (c->total < 0)
		c->total = q->total;	// known from an earlier chunk
	q->total = c->total;
	if (c->total >= 0 && c->offset + extent > c->total) {
		snprintf(err, errlen, "track '%s': chunk at offset %lld of %lld ends past total=%lld",
			 q->track, (long long)c->offset, (long long)extent, (long long)c->total);
		return -1;
	}
	if (c->last && c->total >= 0 && c->offset + extent != c->total) {
		snprintf(err, errlen, "track '%s': last chunk ends at %lld, total=%lld", q->track,
			 (long long)(c->offset + extent), (long long)c->total);
		return -1;
	}
	q->next_index++;
	q->next_offset += extent;
	q->open = !c->last;
	return 0;
}

int chunk_seq_end(struct chunk_seq *q, char *err, size_t errlen)
{
	if (!q->open)
		return 0;
	snprintf(err, errlen, "the stream ends inside track '%s' (chunk %lld and its last=1 "
		 "never came: was the command before it stopped?)", q->track,
		 (long long)q->next_index);
	return -1;
}

void chunk_seq_free(struct chunk_seq *q)
{
	free(q->track);
	q->track = NULL;
	q->open = false;
}
