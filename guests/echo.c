/* echo: sends every received UART byte straight back, forever, so a test
 * can measure round trips and check the receive path (including bytes
 * arriving faster than they are consumed). It never stops by itself; the
 * test stops the VMM. */
#include "rt.h"

int main(void)
{
	for (;;)
		uart_putc((char)uart_getc());
}
