/* test_sched.c: warm-up, ReduceLROnPlateau and min_lr against their
 * definitions (PyTorch's LinearLR-style warm-up and ReduceLROnPlateau with
 * mode='min', threshold 1e-4 relative, cooldown 0). */
#include <math.h>

#include "config.h"
#include "scheduler.h"
#include "test.h"

static struct config cfg_with(float lr, int patience, float factor, float min_lr, int warmup)
{
	struct config c;
	config_defaults(&c);
	c.learning_rate = lr, c.patience = patience, c.factor = factor;
	c.min_lr = min_lr, c.warmup_steps = warmup;
	return c;
}

static void test_warmup_is_linear_then_flat(void)
{
	struct config c = cfg_with(1e-3f, 5, 0.5f, 1e-7f, 4);
	struct sched s;
	sched_init(&s, &c);
	CHECK_NEAR(sched_lr(&s, 0), 0.25 * (double)1e-3f, 1e-15);
	CHECK_NEAR(sched_lr(&s, 1), 0.50 * (double)1e-3f, 1e-15);
	CHECK_NEAR(sched_lr(&s, 3), 1.00 * (double)1e-3f, 1e-15);
	CHECK_NEAR(sched_lr(&s, 1000), (double)1e-3f, 1e-15);
	c.warmup_steps = 0;
	sched_init(&s, &c);
	CHECK_NEAR(sched_lr(&s, 0), (double)1e-3f, 1e-15);
}

static void test_plateau_reduces_after_patience(void)
{
	struct config c = cfg_with(1.0f, 2, 0.5f, 0.2f, 0);
	struct sched s;
	sched_init(&s, &c);
	CHECK(sched_epoch_end(&s, 10.0), "first loss is the best");
	CHECK(sched_epoch_end(&s, 9.0), "improvement");
	CHECK(!sched_epoch_end(&s, 9.0), "equal is not an improvement");
	CHECK(!sched_epoch_end(&s, 8.9995), "below the 1e-4 relative threshold");
	CHECK_NEAR(sched_lr(&s, 0), 1.0, 0);	/* 2 bad epochs = patience: no change yet */
	CHECK(!sched_epoch_end(&s, 9.5), "worse");
	CHECK_NEAR(sched_lr(&s, 0), 0.5, 0);	/* the third bad epoch reduces */
	CHECK(s.bad_epochs == 0 && s.reductions == 1, "counter reset");
	for (int i = 0; i < 3; i++)
		sched_epoch_end(&s, 9.5);
	CHECK_NEAR(sched_lr(&s, 0), 0.25, 0);
	for (int i = 0; i < 3; i++)
		sched_epoch_end(&s, 9.5);
	CHECK_NEAR(sched_lr(&s, 0), 0.2, 1e-7);	/* clamped to min_lr */
	for (int i = 0; i < 9; i++)
		sched_epoch_end(&s, 9.5);
	CHECK_NEAR(sched_lr(&s, 0), 0.2, 1e-7);	/* and stays there */
	CHECK(s.reductions == 3, "no reduction below min_lr (%d)", s.reductions);
	CHECK(sched_epoch_end(&s, 1.0), "an improvement resets");
	CHECK(s.bad_epochs == 0, "bad epochs reset");
}

static void test_warmup_times_plateau(void)
{
	struct config c = cfg_with(1.0f, 0, 0.1f, 0.0f, 10);
	struct sched s;
	sched_init(&s, &c);
	sched_epoch_end(&s, 1.0);
	sched_epoch_end(&s, 2.0);	/* patience 0: reduce at once */
	CHECK_NEAR(sched_lr(&s, 4), 0.1 * 0.5, 1e-9);
}

static void test_state_round_trip(void)
{
	struct config c = cfg_with(3e-4f, 1, 0.3f, 1e-8f, 0);
	struct sched s, t;
	char buf[256];
	sched_init(&s, &c);
	sched_epoch_end(&s, 0.123456789);
	sched_epoch_end(&s, 0.2);
	sched_epoch_end(&s, 0.2);
	sched_format(&s, buf, sizeof buf);
	sched_init(&t, &c);
	CHECK(sched_parse(&t, buf) == 0, "parse '%s'", buf);
	CHECK(t.plateau_lr == s.plateau_lr && t.best == s.best && t.bad_epochs == s.bad_epochs &&
	      t.reductions == s.reductions, "exact: %s", buf);
	sched_init(&t, &c);
	sched_format(&t, buf, sizeof buf);	/* best = inf before any epoch */
	CHECK(sched_parse(&s, buf) == 0 && isinf(s.best), "inf round trip '%s'", buf);
	CHECK(sched_parse(&s, "0x1p-3 nan") == -1, "malformed");
}

int main(void)
{
	RUN(test_warmup_is_linear_then_flat);
	RUN(test_plateau_reduces_after_patience);
	RUN(test_warmup_times_plateau);
	RUN(test_state_round_trip);
	return test_summary();
}
