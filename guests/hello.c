/* hello: the smallest end-to-end check of a boot path. Its exact output
 * proves the loader, the CPL0 stub, the UART and the command-line plumbing;
 * QEMU or the VMM exiting on its own proves the poweroff path.
 *
 * After its two lines, the first of these words on the command line picks
 * another way to stop, so each VMM exit path has a guest that takes it:
 *   reset  write 0xFE to the i8042 command port 0x64 (CPU reset pulse)
 *   fault  ud2 at CPL3; no usable IDT gate, so it ends in a triple fault
 *   halt   int3 into CPL0 (start.S's only gate): cli; hlt there forever
 * Without any of them it powers off. */
#include "rt.h"

#define I8042_CMD   0x64
#define I8042_RESET 0xFE

enum exit_mode { EXIT_POWEROFF, EXIT_RESET, EXIT_FAULT, EXIT_HALT };

/* The first whole space-separated word of s naming an exit mode. */
static enum exit_mode exit_mode(const char *s)
{
	static const struct {
		const char *word;
		enum exit_mode mode;
	} modes[] = {
		{ "reset", EXIT_RESET },
		{ "fault", EXIT_FAULT },
		{ "halt", EXIT_HALT },
	};

	while (*s) {
		while (*s == ' ')
			s++;
		const char *w = s;
		while (*s && *s != ' ')
			s++;
		size_t n = (size_t)(s - w);
		for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (n == strlen(modes[i].word) &&
			    !strncmp(w, modes[i].word, n))
				return modes[i].mode;
	}
	return EXIT_POWEROFF;
}

int main(void)
{
	uart_puts("Hello from the vsbd PVH test guest\n");
	printf("cmdline: %s\n", rt_cmdline());

	enum exit_mode mode = exit_mode(rt_cmdline());

	/* Whatever comes next ends the machine abruptly: let the lines out. */
	uart_flush();
	switch (mode) {
	case EXIT_RESET:
		outb(I8042_CMD, I8042_RESET);
		break; /* should not get here: spin below */
	case EXIT_FAULT:
		__asm__ volatile("ud2");
		break;
	case EXIT_HALT:
		cpl0_halt();
	case EXIT_POWEROFF:
		return 0; /* rt_start powers off */
	}
	/* The reset or fault did not take: hang visibly rather than power
	 * off, which a test would mistake for the default exit. */
	for (;;)
		cpu_relax();
}
