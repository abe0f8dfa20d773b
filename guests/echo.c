/* echo: sends every received UART byte straight back, forever, so a test
 * can measure round trips and check the receive path (including bytes
 * arriving faster than they are consumed). A received break (LSR.BI, with
 * its 0 byte) is answered with "<BREAK>" instead, so a test can see a
 * break sent by an SSH client reach the guest. It never stops by itself;
 * the test stops the VMM. */
#include "rt.h"

#define UART_LSR_BI 0x10

/* Reading LSR clears BI, and transmitting polls LSR too: every read goes
 * through here so a break seen while sending is not lost. */
static uint8_t pending_bi;

static uint8_t read_lsr(void)
{
	uint8_t lsr = inb(UART_BASE + UART_LSR);

	pending_bi |= lsr & UART_LSR_BI;
	return lsr;
}

static void put(char c)
{
	while (!(read_lsr() & UART_LSR_THRE))
		cpu_relax();
	outb(UART_BASE + UART_THR, (uint8_t)c);
}

int main(void)
{
	for (;;) {
		while (!(read_lsr() & UART_LSR_DR))
			cpu_relax();
		uint8_t c = inb(UART_BASE + UART_RBR);
		if (pending_bi && c == 0) {
			pending_bi = 0;
			for (const char *s = "<BREAK>"; *s; s++)
				put(*s);
		} else {
			put((char)c);
		}
	}
}
