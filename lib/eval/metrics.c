/* metrics.c: uSDR and the finite-value median/mean used to aggregate
 * frames and tracks (SI-SDR is the loss's own: ops.h sisdr_db).  BSSEval
 * v4 is in bsseval.c. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const bss_metric_names[BSS_NMETRICS] = { "SDR", "ISR", "SIR", "SAR" };

double metrics_usdr(const float *ref, const float *est, int64_t n)
{
	double ss = 0, dd = 0;
	for (int64_t i = 0; i < n; i++) {
		double d = (double)ref[i] - est[i];
		ss += (double)ref[i] * ref[i];
		dd += d * d;
	}
	return 10 * log10((ss + METRICS_USDR_EPS) / (dd + METRICS_USDR_EPS));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* numpy.nanmedian: the middle value, or the mean of the two middle ones */
double metrics_median_finite(const double *x, int64_t n)
{
	double *v = xmalloc((n ? n : 1) * sizeof *v);
	int64_t m = 0;
	for (int64_t i = 0; i < n; i++)
		if (isfinite(x[i]))
			v[m++] = x[i];
	double med = NAN;
	if (m) {
		qsort(v, m, sizeof *v, cmp_double);
		med = m % 2 ? v[m / 2] : (v[m / 2 - 1] + v[m / 2]) / 2;
	}
	free(v);
	return med;
}

double metrics_mean_finite(const double *x, int64_t n)
{
	double sum = 0;
	int64_t m = 0;
	for (int64_t i = 0; i < n; i++)
		if (isfinite(x[i])) {
			sum += x[i];
			m++;
		}
	return m ? sum / m : NAN;
}
