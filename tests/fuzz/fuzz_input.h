/* Reading a fuzzer's input as a stream of operands: past the end every read
 * yields 0, so a short input is still a complete (if dull) program. */
#ifndef VSB_FUZZ_INPUT_H
#define VSB_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t u8(struct in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

#endif
