/* fuzz_config.c: the INI config loader (inih, every key's type and range,
 * the model's consistency and size limits) on arbitrary text. */
#include "fuzz.h"

#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	struct config c;
	char err[512];
	config_defaults(&c);
	if (config_parse_string(&c, text, "fuzz", err, sizeof err) == 0)
		(void)config_param_count(&c);
	free(text);
	return 0;
}
