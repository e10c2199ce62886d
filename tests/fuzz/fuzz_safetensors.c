/* fuzz_safetensors.c: the safetensors loader with a sepnet checkpoint's
 * config (header JSON, offsets, dtypes, the config in the metadata and its
 * parameter count against the tensors) on arbitrary bytes; a file that
 * passes is loaded into a model, as sepnet-fwd -m does. */
#include "fuzz.h"

#include "checkpoint.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, ".safetensors");
	struct config cfg;
	char err[1024];
	if (checkpoint_read_config(path, &cfg, err, sizeof err))
		return 0;
	struct model *m = model_create(&cfg, &backend_cpu, 1, 1, false);
	checkpoint_load(m, path, NULL, NULL, err, sizeof err);
	model_free(m);
	return 0;
}
