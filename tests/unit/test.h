/* test.h: a minimal unit-test harness printing TAP lines.
 *
 *   static void test_roundtrip(void) { CHECK(x == 1, "x is %d", x); }
 *   int main(void) { RUN(test_roundtrip); return test_summary(); }
 *
 * Each RUN prints "ok N - name" or "not ok N - name" followed by the failed
 * checks as "# ..." lines; tests/run counts them. */
#ifndef SEPNET_TEST_H
#define SEPNET_TEST_H

#include <math.h>
#include <stdio.h>

static int test_count, test_failed_total, test_failed_now;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			test_failed_now++;                                      \
			printf("# %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                                    \
			printf("\n");                                           \
		}                                                               \
	} while (0)

/* |a - b| <= tol (absolute) */
#define CHECK_NEAR(a, b, tol)                                                   \
	CHECK(fabs((double)(a) - (double)(b)) <= (tol) &&                       \
	      !isnan((double)(a)) && !isnan((double)(b)),                        \
	      "%s = %.9g, %s = %.9g, tolerance %.3g", #a, (double)(a), #b,      \
	      (double)(b), (double)(tol))

#define RUN(fn)                                                                 \
	do {                                                                    \
		test_failed_now = 0;                                            \
		fflush(stdout);                                                 \
		fn();                                                           \
		test_count++;                                                   \
		if (test_failed_now)                                            \
			test_failed_total++;                                    \
		printf("%sok %d - %s\n", test_failed_now ? "not " : "",        \
		       test_count, #fn);                                        \
		fflush(stdout);                                                 \
	} while (0)

static inline int test_summary(void)
{
	printf("1..%d\n", test_count);
	return test_failed_total ? 1 : 0;
}

#endif
