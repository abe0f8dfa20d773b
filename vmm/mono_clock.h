/* Milliseconds of CLOCK_MONOTONIC: for timeouts and poll intervals, which
 * must not jump when the wall clock is set. */
#ifndef VSB_MONO_CLOCK_H
#define VSB_MONO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
