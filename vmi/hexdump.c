/* See vmi_hexdump.h. */
#include "vmi_hexdump.h"

#include <inttypes.h>

void vmi_hexdump(FILE *f, uint64_t addr, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		fprintf(f, "%016" PRIx64 " ", addr + i);
		for (size_t j = 0; j < 16; j++) {
			if (i + j < n)
				fprintf(f, " %02x", b[i + j]);
			else
				fputs("   ", f);
		}
		fputs("  |", f);
		for (size_t j = 0; j < 16 && i + j < n; j++)
			putc(b[i + j] >= 0x20 && b[i + j] < 0x7f ? b[i + j] :
				'.', f);
		fputs("|\n", f);
	}
}
