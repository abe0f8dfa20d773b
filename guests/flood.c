/* flood: writes N bytes as fast as the UART accepts them, to measure
 * serial throughput and check that nothing is lost or reordered. N is the
 * first decimal number in the command line (default 1 MiB). Byte i is
 * 'a' + i % 26, except that every 64th byte (i % 64 == 63) is '\n', so a
 * reader can verify both content and order line by line.
 *
 * With the whole word "wait" on the command line it first waits for one
 * byte on the UART (and drops it), so a reader that attaches late (an SSH
 * client, say) can start the flood when it is ready: bench/remote_console.py
 * measures throughput that way. Without it the flood starts at once. */
#include "rt.h"

#define FLOOD_DEFAULT 1048576

/* True if the space-separated word w is in s. */
static bool has_word(const char *s, const char *w)
{
	size_t len = strlen(w);

	while (*s) {
		while (*s == ' ')
			s++;
		const char *start = s;
		while (*s && *s != ' ')
			s++;
		if ((size_t)(s - start) == len && !strncmp(start, w, len))
			return true;
	}
	return false;
}

int main(void)
{
	const char *cmdline = rt_cmdline();
	uint64_t n = first_number(cmdline, FLOOD_DEFAULT);

	if (has_word(cmdline, "wait"))
		(void)uart_getc();
	for (uint64_t i = 0; i < n; i++)
		uart_putc(i % 64 == 63 ? '\n' : (char)('a' + i % 26));
	return 0; /* rt_start flushes the UART, then powers off */
}
