/* checkpoint.h: model checkpoints as safetensors files (docs/DESIGN.md §8).
 *
 * Every parameter is an F32 tensor named as in docs/DESIGN.md §8 (nn.Linear
 * [out, in] weights), so `safetensors.torch.load_file` feeds a PyTorch
 * module with the same names (tests/reference/sepnet.py).  __metadata__
 * holds "format" = "sepnet", the model config as INI text ("config") and the
 * parameter count ("n_params"), plus whatever training state the caller adds
 * (step, epoch, scheduler, RNG: see checkpoint_save's extra).  AdamW moments,
 * when saved, are the tensors "opt.m.NAME" and "opt.v.NAME".
 *
 * Loading is strict: a missing tensor, a wrong shape, an unexpected tensor,
 * or a config whose [model] section differs from the model's is an error
 * naming it. */
#ifndef SEPNET_CHECKPOINT_H
#define SEPNET_CHECKPOINT_H

#include <stdbool.h>

#include "config.h"
#include "model.h"
#include "safetensors.h"

struct checkpoint_kv {
	const char *key;
	const char *value;
};

/* Write m's parameters (and, when adam_m and adam_v are not NULL, the AdamW
 * moments) to path atomically, with n_extra more metadata entries. */
void checkpoint_save(const char *path, const struct model *m, const float *adam_m,
		     const float *adam_v, const struct checkpoint_kv *extra, int n_extra);

/* The same with the weights of m's layout at `weights` (host memory: an
 * EMA of them, say) in place of m's, and no moments. */
void checkpoint_save_weights(const char *path, const struct model *m, const real *weights,
			     const struct checkpoint_kv *extra, int n_extra);

/* Write m's parameters alone (no moments, no training state), stored as
 * `store` (F32, F16 or BF16, rounded to nearest even): a model to ship.
 * Loading converts F16 and BF16 back to f32 exactly. */
void checkpoint_export(const char *path, const struct model *m, enum safetensors_dtype store);

/* The dtype the parameters of path are stored in (moments not counted):
 * its name ("F32", "F16", "BF16") in *name, or "mixed".  0 ok, -1 with a
 * message in err. */
int checkpoint_param_dtype(const char *path, const char **name, char *err, size_t errlen);

/* The config stored in a checkpoint.  0 ok, -1 with a message in err. */
int checkpoint_read_config(const char *path, struct config *cfg, char *err, size_t errlen);

/* Fill m's parameters (host and backend; and the moments when adam_m/adam_v
 * are not NULL: a file without them is then an error) from path.  0 ok,
 * -1 with a message. */
int checkpoint_load(struct model *m, const char *path, float *adam_m, float *adam_v,
		    char *err, size_t errlen);

/* Read the config, create a model for it on be (max_frames 0: the
 * config's segment) and load the parameters; dies with the message on any
 * error. */
struct model *checkpoint_open_model(const char *path, const struct backend *be, int max_batch,
				    int max_frames, bool training);
/* checkpoint_open_model for inference on the config's segment, the
 * weights read in place where they lie in the file's mapping as the
 * model's buffer would (F32, in the model's order: any checkpoint sepnet
 * saved in F32) on a host backend: the page cache's pages, never copied,
 * and 65 MB (base.ini) less memory to touch; else copied as there.  The
 * mapping is read-only; model_init or a load into the model reads its own
 * buffer again (model_upload closes the file). */
struct model *checkpoint_map_model(const char *path, const struct backend *be, int max_batch);

#endif
