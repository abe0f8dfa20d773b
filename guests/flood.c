/* flood: writes N bytes as fast as the UART accepts them, to measure
 * serial throughput and check that nothing is lost or reordered. N is the
 * first decimal number in the command line (default 1 MiB). Byte i is
 * 'a' + i % 26, except that every 64th byte (i % 64 == 63) is '\n', so a
 * reader can verify both content and order line by line. */
#include "rt.h"

#define FLOOD_DEFAULT 1048576

int main(void)
{
	uint64_t n = first_number(rt_cmdline(), FLOOD_DEFAULT);

	for (uint64_t i = 0; i < n; i++)
		uart_putc(i % 64 == 63 ? '\n' : (char)('a' + i % 26));
	return 0; /* rt_start flushes the UART, then powers off */
}
