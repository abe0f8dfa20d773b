/* hello: the smallest end-to-end check of a boot path. Its exact output
 * proves the loader, the CPL0 stub, the UART and the command-line plumbing;
 * QEMU or the VMM exiting on its own proves the poweroff path. */
#include "rt.h"

int main(void)
{
	uart_puts("Hello from the vsbd PVH test guest\n");
	printf("cmdline: %s\n", rt_cmdline());
	return 0; /* rt_start powers off */
}
