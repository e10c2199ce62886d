/* real.h: the floating type of the model's arithmetic.
 *
 * float everywhere but in tests/unit/test_gradcheck.c, which defines
 * SEPNET_DOUBLE and #includes the ops, the CPU backend, the STFT and the
 * model so that the very code that trains runs in double precision, where
 * central finite differences are accurate enough to check every backward
 * (docs/DESIGN.md §10). */
#ifndef SEPNET_REAL_H
#define SEPNET_REAL_H

#ifdef SEPNET_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#endif
