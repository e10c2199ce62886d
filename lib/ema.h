/* ema.h: exponential moving average of the weights (DESIGN §5, ema_decay).
 *
 * After every optimizer step, ema ← decay · ema + (1 − decay) · params,
 * elementwise over the flat parameter buffer, starting from a copy of the
 * initial weights (no bias correction: with decay 0.999 the average is
 * dominated by the initial weights for the first few thousand steps, as in
 * timm's ModelEmaV2 and Demucs).  decay 0 turns EMA off in sepnet-train. */
#ifndef SEPNET_EMA_H
#define SEPNET_EMA_H

#include <stddef.h>
#include "real.h"

/* ema (n) ← decay · ema + (1 − decay) · params (n) */
void ema_update(real *ema, const real *params, size_t n, float decay);

#endif
