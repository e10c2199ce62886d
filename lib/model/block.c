/* block.c: what the architectures share (block.h): the activation arena,
 * dropout on the residual sums, and the pre-norm transformer block. */
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "ops.h"
#include "util.h"

/* ---- the activation arena ---- */

void arena_want(struct arena_plan *ap, real **ptr, size_t n)
{
	if (ap->n == ap->cap) {
		ap->cap = ap->cap ? 2 * ap->cap : 64;
		ap->req = xrealloc(ap->req, ap->cap * sizeof *ap->req);
	}
	ap->req[ap->n].ptr = ptr;
	ap->req[ap->n].n = (n + 15) & ~(size_t)15;	// keep every tensor 64-byte aligned
	ap->n++;
}

real *arena_alloc(struct arena_plan *ap, const struct backend *be, bool touch)
{
	size_t total = 0;
	for (int i = 0; i < ap->n; i++)
		total += ap->req[i].n;
	real *base = be->alloc(total * sizeof(real));
	if (touch)
		be->zero(base, total * sizeof(real));
	size_t off = 0;
	for (int i = 0; i < ap->n; i++) {
		*ap->req[i].ptr = base + off;
		off += ap->req[i].n;
	}
	free(ap->req);
	return base;
}

void zero_floats(const struct backend *be, real *p, size_t n)
{
	be->zero(p, n * sizeof(real));
}

real *rope_upload(const struct backend *be, int positions, int hs)
{
	size_t n = (size_t)positions * hs;
	real *table = xmalloc(n * sizeof(real));
	rope_table(table, positions, hs);
	real *rope = be->alloc(n * sizeof(real));
	be->upload(rope, table, n * sizeof(real));
	free(table);
	return rope;
}

bool name_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- dropout on the residual sums ---- */

uint64_t dropout_stream(const struct model *m, int layer, int site)
{
	return (m->step << 16) | ((uint64_t)layer << 1) | (uint64_t)site;
}

/* The residual sums of B examples of `per` elements each, example b drawing
 * the dropout mask of example m->example0 + b · m->example_stride of the
 * global batch (one call when they are consecutive there). */
void residual_forward_batch(const struct model *m, real *out, const real *inp, const real *branch,
			    int B, size_t per, float p, uint64_t stream)
{
	const struct backend *be = m->be;
	uint64_t seed = m->cfg.seed;
	if (p <= 0 || m->example_stride == 1) {
		be->residual_forward(out, inp, branch, B * per, p, seed, stream, m->example0 * per);
		return;
	}
	for (int b = 0; b < B; b++)
		be->residual_forward(out + b * per, inp + b * per, branch + b * per, per, p, seed,
				     stream, (m->example0 + (uint64_t)b * m->example_stride) * per);
}

void residual_backward_batch(const struct model *m, real *dbranch, const real *dout, int B,
			     size_t per, float p, uint64_t stream)
{
	const struct backend *be = m->be;
	uint64_t seed = m->cfg.seed;
	if (p <= 0 || m->example_stride == 1) {
		be->residual_backward(dbranch, dout, B * per, p, seed, stream, m->example0 * per);
		return;
	}
	for (int b = 0; b < B; b++)
		be->residual_backward(dbranch + b * per, dout + b * per, per, p, seed, stream,
				      (m->example0 + (uint64_t)b * m->example_stride) * per);
}

/* ---- the block ---- */

void block_plan_acts(struct arena_plan *ap, const struct block_shape *s, struct block_acts *ba,
		     size_t rows, size_t max_seqs_T, bool training)
{
	size_t d = s->d, A = s->A;
	arena_want(ap, &ba->z_in, rows * d);
	arena_want(ap, &ba->a1, rows * d);
	arena_want(ap, &ba->rstd1, rows);
	arena_want(ap, &ba->qkv, rows * 3 * A);
	arena_want(ap, &ba->att, rows * A);
	arena_want(ap, &ba->lse, max_seqs_T * s->h);
	if (s->gates) {
		arena_want(ap, &ba->gate, rows * s->h);
		arena_want(ap, &ba->gated, rows * A);
	}
	if (training)
		arena_want(ap, &ba->z_mid, rows * d);
	arena_want(ap, &ba->a2, rows * d);
	arena_want(ap, &ba->rstd2, rows);
	for (int j = 0; j < s->n_ffn; j++) {
		arena_want(ap, &ba->ffn_pre[j], rows * s->hidden[j]);
		if (training)	// at inference GELU runs in place
			arena_want(ap, &ba->ffn_act[j], rows * s->hidden[j]);
	}
}

void block_plan_scratch(struct arena_plan *ap, const struct block_shape *s,
			struct block_scratch *sc, size_t rows, bool training)
{
	size_t d = s->d, A = s->A;
	arena_want(ap, &sc->branch, rows * d);
	if (!training)
		return;
	int max_hidden = 1;
	for (int j = 0; j < s->n_ffn; j++)
		max_hidden = s->hidden[j] > max_hidden ? s->hidden[j] : max_hidden;
	arena_want(ap, &sc->dbranch, rows * d);
	arena_want(ap, &sc->da, rows * d);
	arena_want(ap, &sc->dqkv, rows * 3 * A);
	arena_want(ap, &sc->datt, rows * A);
	if (s->gates) {
		arena_want(ap, &sc->dgated, rows * A);
		arena_want(ap, &sc->dgate, rows * s->h);
	}
	arena_want(ap, &sc->dhidden[0], rows * max_hidden);
	arena_want(ap, &sc->dhidden[1], rows * max_hidden);
}

void block_acts_in_place(const struct block_shape *s, struct block_acts *ba)
{
	ba->z_mid = ba->z_in;
	for (int j = 0; j < s->n_ffn; j++)
		ba->ffn_act[j] = ba->ffn_pre[j];
}

void block_forward(const struct model *m, const struct block_shape *s,
		   const struct block_params *bp, struct block_acts *ba, struct block_scratch *sc,
		   real *z_out, const real *rope, int B, int T, int layer)
{
	const struct backend *be = m->be;
	int d = s->d, A = s->A, h = s->h, N = B * T;
	float p = m->dropout_active ? m->cfg.dropout : 0;

	be->rmsnorm_forward(ba->a1, ba->rstd1, ba->z_in, bp->attn_norm, N, d, s->eps);
	be->linear_forward(ba->qkv, ba->a1, bp->wqkv, NULL, N, d, 3 * A);
	be->rope_forward(ba->qkv, rope, B, T, A, h);
	be->attention_forward(ba->att, ba->lse, ba->qkv, B, T, A, h);
	const real *heads = ba->att;
	if (s->gates) {
		be->linear_forward(ba->gate, ba->a1, bp->wgate, bp->bgate, N, d, h);
		be->head_gate_forward(ba->gated, ba->att, ba->gate, N, A, h);
		heads = ba->gated;
	}
	be->linear_forward(sc->branch, heads, bp->wo, bp->bo, N, A, d);
	// each example's tokens are contiguous whichever axis the sequences run along
	size_t per = (size_t)N * d / m->B;
	residual_forward_batch(m, ba->z_mid, ba->z_in, sc->branch, m->B, per, p,
			       dropout_stream(m, layer, 0));
	be->rmsnorm_forward(ba->a2, ba->rstd2, ba->z_mid, bp->ffn_norm, N, d, s->eps);
	const real *hin = ba->a2;
	int width = d;
	for (int j = 0; j < s->n_ffn; j++) {
		int hid = s->hidden[j];
		if (ba->ffn_act[j] == ba->ffn_pre[j]) {	// inference: fused, in place
			be->linear_gelu_forward(ba->ffn_act[j], hin, bp->ffn_w[j], bp->ffn_b[j], N, width,
						hid);
		} else {
			be->linear_forward(ba->ffn_pre[j], hin, bp->ffn_w[j], bp->ffn_b[j], N, width, hid);
			be->gelu_forward(ba->ffn_act[j], ba->ffn_pre[j], (size_t)N * hid);
		}
		hin = ba->ffn_act[j];
		width = hid;
	}
	be->linear_forward(sc->branch, hin, bp->ffn_w[s->n_ffn], bp->ffn_b[s->n_ffn], N, width, d);
	residual_forward_batch(m, z_out, ba->z_mid, sc->branch, m->B, per, p,
			       dropout_stream(m, layer, 1));
}

void block_backward(const struct model *m, const struct block_shape *s,
		    const struct block_params *bp, const struct block_params *bg,
		    const struct block_acts *ba, struct block_scratch *sc, real *dz,
		    const real *rope, int B, int T, int layer)
{
	const struct backend *be = m->be;
	int d = s->d, A = s->A, h = s->h, N = B * T;
	float p = m->dropout_active ? m->cfg.dropout : 0;
	size_t per = (size_t)N * d / m->B;

	// FFN sublayer: z_out = z_mid + Dropout(FFN(ffn_norm(z_mid)))
	zero_floats(be, sc->dbranch, (size_t)N * d);
	residual_backward_batch(m, sc->dbranch, dz, m->B, per, p, dropout_stream(m, layer, 1));
	int nf = s->n_ffn;
	const real *hin = nf ? ba->ffn_act[nf - 1] : ba->a2;
	int width = nf ? s->hidden[nf - 1] : d;
	real *dact = nf ? sc->dhidden[0] : sc->da, *dpre = sc->dhidden[1];
	zero_floats(be, dact, (size_t)N * width);
	be->linear_backward(dact, bg->ffn_w[nf], bg->ffn_b[nf], sc->dbranch, hin, bp->ffn_w[nf], N,
			    width, d);
	for (int j = nf - 1; j >= 0; j--) {
		int hid = s->hidden[j];
		zero_floats(be, dpre, (size_t)N * hid);
		be->gelu_backward(dpre, dact, ba->ffn_pre[j], (size_t)N * hid);
		hin = j ? ba->ffn_act[j - 1] : ba->a2;
		width = j ? s->hidden[j - 1] : d;
		real *din = j ? sc->dhidden[0] : sc->da;
		zero_floats(be, din, (size_t)N * width);
		be->linear_backward(din, bg->ffn_w[j], bg->ffn_b[j], dpre, hin, bp->ffn_w[j], N, width,
				    hid);
		dact = din;
	}
	be->rmsnorm_backward(dz, bg->ffn_norm, sc->da, ba->z_mid, bp->ffn_norm, ba->rstd2, N, d);

	// attention sublayer: z_mid = z_in + Dropout(W_o gate(attention(rope(W_qkv attn_norm(z_in)))) + b_o)
	zero_floats(be, sc->dbranch, (size_t)N * d);
	residual_backward_batch(m, sc->dbranch, dz, m->B, per, p, dropout_stream(m, layer, 0));
	zero_floats(be, sc->datt, (size_t)N * A);
	if (s->gates) {
		zero_floats(be, sc->dgated, (size_t)N * A);
		be->linear_backward(sc->dgated, bg->wo, bg->bo, sc->dbranch, ba->gated, bp->wo, N, A, d);
		zero_floats(be, sc->dgate, (size_t)N * h);
		be->head_gate_backward(sc->datt, sc->dgate, sc->dgated, ba->att, ba->gate, N, A, h);
	} else {
		be->linear_backward(sc->datt, bg->wo, bg->bo, sc->dbranch, ba->att, bp->wo, N, A, d);
	}
	zero_floats(be, sc->dqkv, (size_t)N * 3 * A);
	be->attention_backward(sc->dqkv, sc->datt, ba->qkv, ba->att, ba->lse, B, T, A, h);
	be->rope_backward(sc->dqkv, rope, B, T, A, h);
	zero_floats(be, sc->da, (size_t)N * d);
	be->linear_backward(sc->da, bg->wqkv, NULL, sc->dqkv, ba->a1, bp->wqkv, N, d, 3 * A);
	if (s->gates)
		be->linear_backward(sc->da, bg->wgate, bg->bgate, sc->dgate, ba->a1, bp->wgate, N, d, h);
	be->rmsnorm_backward(dz, bg->attn_norm, sc->da, ba->z_in, bp->attn_norm, ba->rstd1, N, d);
}
