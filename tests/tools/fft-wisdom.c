/* fft-wisdom: FFTW's measured plans for the STFT's sizes, as the C source
 * of lib/dsp/fft_wisdom.inc (`make wisdom`, which writes it; fft.c
 * compiles it in).
 *
 *   fft-wisdom > lib/dsp/fft_wisdom.inc
 *
 * The sizes are the configs' n_fft, 512 to 4096, in batches of STFT_BLOCK
 * (stft.h), each planned as fft_plan_create plans it, with FFTW_MEASURE.
 * A plan measured once and compiled in is the same in every run, where
 * one measured at run time could change from run to run (fft.c). */
#include <stdio.h>
#include <stdlib.h>

#include "fft.h"
#include "stft.h"

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: fft-wisdom > lib/dsp/fft_wisdom.inc\n");
		return 2;
	}
	static const int sizes[] = { 512, 1024, 2048, 4096 };
	char *w = fft_wisdom_measure(sizes, 4, STFT_BLOCK);
	printf("/* fft_wisdom.inc: FFTW_MEASURE's plans for n_fft 512, 1024, 2048 and\n"
	       " * 4096 in batches of %d, made by `make wisdom` (tests/tools/fft-wisdom);\n"
	       " * do not edit.  fft.c imports it; FFTW takes it only with the codelets\n"
	       " * it was made with. */\n"
	       "static const char fft_wisdom[] =\n", STFT_BLOCK);
	printf("\t\"");
	for (const char *c = w; *c; c++) {
		if (*c == '\n')
			printf(c[1] ? "\\n\"\n\t\"" : "\\n");
		else if (*c == '"' || *c == '\\')
			printf("\\%c", *c);
		else
			putchar(*c);
	}
	printf("\";\n");
	free(w);
	return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
