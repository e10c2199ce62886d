/* model-export: strip a training checkpoint to the parameters a model needs
 * to run, optionally stored in half precision (examples/demo-model.sh makes
 * models/demo.safetensors with it).
 *
 *   model-export [-t f32|f16|bf16] IN OUT
 *   model-export --dtype MODEL
 *
 * The first form loads IN (any sepnet checkpoint: the AdamW moments and the
 * training state in it are left out) and writes OUT with the parameters
 * stored as -t (default f16: half the size of f32; the demo model's weights
 * are all far inside f16's range, where its 11-bit mantissa keeps about
 * 3 decimal digits), then prints "IN: DTYPE -> OUT: DTYPE, N parameters".
 * The second prints the dtype MODEL's parameters are stored in (F32, F16,
 * BF16, or mixed) as the loader reads them. */
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "util.h"

static const char usage[] = "usage: model-export [-t f32|f16|bf16] IN OUT\n"
			    "       model-export --dtype MODEL";

static const char *dtype_or_die(const char *path)
{
	const char *name;
	char err[1024];
	if (checkpoint_param_dtype(path, &name, err, sizeof err))
		die("%s", err);
	return name;
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts(usage);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--dtype")) {
		puts(dtype_or_die(argv[2]));
		close_stdout();
		return 0;
	}
	enum safetensors_dtype store = SAFETENSORS_F16;
	int i = 1;
	if (argc == 5 && !strcmp(argv[1], "-t")) {
		if (!strcmp(argv[2], "f32"))
			store = SAFETENSORS_F32;
		else if (!strcmp(argv[2], "f16"))
			store = SAFETENSORS_F16;
		else if (!strcmp(argv[2], "bf16"))
			store = SAFETENSORS_BF16;
		else
			die_usage("-t: f32, f16 or bf16, not '%s'", argv[2]);
		i = 3;
	}
	if (argc - i != 2 || argv[i][0] == '-' || argv[i + 1][0] == '-')
		die_usage("%s", usage);
	const char *in = argv[i], *out = argv[i + 1];
	struct model *m = checkpoint_open_model(in, &backend_cpu, 1, 1, false);
	const char *from = dtype_or_die(in);
	checkpoint_export(out, m, store);
	printf("%s: %s -> %s: %s, %zu parameters\n", in, from, out, dtype_or_die(out), m->n_params);
	model_free(m);
	close_stdout();
	return 0;
}
