/* Runtime for the PVH test guests; see rt.h. Runs at CPL3. */
#include "rt.h"

static const struct hvm_start_info *start_info;

/* Called by start.S once at CPL3, with .bss already cleared. */
__attribute__((noreturn)) void rt_start(uint32_t start_info_paddr);

void rt_start(uint32_t start_info_paddr)
{
	const struct hvm_start_info *si =
		(const struct hvm_start_info *)(uintptr_t)start_info_paddr;

	/* Tolerate a loader that passed nothing useful rather than fault. */
	if (si && si->magic == HVM_START_MAGIC)
		start_info = si;
	uart_init();
	main();
	poweroff();
}

const struct hvm_start_info *rt_start_info(void)
{
	return start_info;
}

const char *rt_cmdline(void)
{
	if (!start_info || !start_info->cmdline_paddr)
		return "";
	return (const char *)(uintptr_t)start_info->cmdline_paddr;
}

/* ---- UART ---- */

void uart_init(void)
{
	outb(UART_BASE + UART_IER, 0x00); /* polled: no interrupts */
	outb(UART_BASE + UART_LCR, 0x80); /* DLAB to reach the divisor */
	outb(UART_BASE + 0, 0x01);        /* 115200 baud */
	outb(UART_BASE + 1, 0x00);
	outb(UART_BASE + UART_LCR, 0x03); /* 8N1, DLAB off */
	/* FCR is deliberately left alone: enabling the FIFOs flushes the
	 * receiver, which would drop input a test sent before we got here. */
	outb(UART_BASE + UART_MCR, 0x03); /* DTR|RTS; OUT2 off keeps the IRQ line quiet */
}

void uart_putc(char c)
{
	while (!(inb(UART_BASE + UART_LSR) & UART_LSR_THRE))
		cpu_relax();
	outb(UART_BASE + UART_THR, (uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

uint8_t uart_getc(void)
{
	while (!(inb(UART_BASE + UART_LSR) & UART_LSR_DR))
		cpu_relax();
	return inb(UART_BASE + UART_RBR);
}

int uart_getc_nb(void)
{
	if (!(inb(UART_BASE + UART_LSR) & UART_LSR_DR))
		return -1;
	return inb(UART_BASE + UART_RBR);
}

void uart_flush(void)
{
	const uint8_t idle = UART_LSR_THRE | UART_LSR_TEMT;

	while ((inb(UART_BASE + UART_LSR) & idle) != idle)
		cpu_relax();
}

/* ---- printf ---- */

static int put_padding(int n, char c)
{
	int i;

	for (i = 0; i < n; i++)
		uart_putc(c);
	return n > 0 ? n : 0;
}

/* Prints an unsigned magnitude with optional '-' sign, honouring width. */
static int put_number(unsigned long long v, unsigned base, bool upper,
		      bool neg, int width, bool zero, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24]; /* 2^64 in decimal is 20 digits */
	int len = 0, out = 0;

	do {
		buf[len++] = digits[v % base];
		v /= base;
	} while (v);

	int total = len + (neg ? 1 : 0);

	if (!left && !zero)
		out += put_padding(width - total, ' ');
	if (neg) {
		uart_putc('-');
		out++;
	}
	if (!left && zero)
		out += put_padding(width - total, '0');
	while (len)
		uart_putc(buf[--len]), out++;
	if (left)
		out += put_padding(width - total, ' ');
	return out;
}

int vprintf(const char *fmt, va_list ap)
{
	int out = 0;

	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			uart_putc(*fmt);
			out++;
			continue;
		}
		fmt++;

		bool zero = false, left = false;
		for (;; fmt++) {
			if (*fmt == '0')
				zero = true;
			else if (*fmt == '-')
				left = true;
			else
				break;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int lng = 0; /* 0: int, 1: long (and size_t), 2: long long */
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}

		unsigned long long u;
		long long s;
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng >= 2 ? va_arg(ap, long long)
			    : lng == 1 ? va_arg(ap, long)
				       : va_arg(ap, int);
			/* Negate in unsigned so LLONG_MIN does not overflow. */
			u = s < 0 ? 0ULL - (unsigned long long)s
				  : (unsigned long long)s;
			out += put_number(u, 10, false, s < 0, width, zero, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng >= 2 ? va_arg(ap, unsigned long long)
			    : lng == 1 ? va_arg(ap, unsigned long)
				       : va_arg(ap, unsigned int);
			out += put_number(u, *fmt == 'u' ? 10 : 16, *fmt == 'X',
					  false, width, zero, left);
			break;
		case 'p':
			uart_puts("0x");
			out += 2 + put_number((uintptr_t)va_arg(ap, void *), 16,
					      false, false, width, zero, left);
			break;
		case 'c': {
			int pad = width - 1;
			if (!left)
				out += put_padding(pad, ' ');
			uart_putc((char)va_arg(ap, int));
			out++;
			if (left)
				out += put_padding(pad, ' ');
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			int pad = width - (int)strlen(str);
			if (!left)
				out += put_padding(pad, ' ');
			uart_puts(str);
			out += (int)strlen(str);
			if (left)
				out += put_padding(pad, ' ');
			break;
		}
		case '%':
			uart_putc('%');
			out++;
			break;
		case '\0':
			return out; /* lone '%' at the end */
		default:
			/* Unknown conversion: show it rather than hide the bug. */
			uart_putc('%');
			uart_putc(*fmt);
			out += 2;
			break;
		}
	}
	return out;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

/* ---- Strings and memory ----
 * The mem* functions use string instructions: written as C loops, gcc may
 * turn them back into calls to themselves. DF is clear (RFLAGS = 0x3002). */

void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb"
			 : "+D"(p), "+c"(n)
			 : "a"(c)
			 : "memory");
	return d;
}

void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
	void *p = d;

	__asm__ volatile("rep movsb"
			 : "+D"(p), "+S"(s), "+c"(n)
			 :
			 : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	if ((uintptr_t)d - (uintptr_t)s >= n)
		return memcpy(d, s, n); /* no harmful overlap */

	/* Destination overlaps the source's tail: copy backwards. */
	void *p = (char *)d + n - 1;
	const void *q = (const char *)s + n - 1;
	__asm__ volatile("std\n\trep movsb\n\tcld"
			 : "+D"(p), "+S"(q), "+c"(n)
			 :
			 : "memory", "cc");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strstr(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncmp(hay, needle, n))
			return (char *)hay;
	return n ? NULL : (char *)hay;
}

uint64_t parse_u64(const char *s, const char **end)
{
	uint64_t v = 0;

	while (*s >= '0' && *s <= '9')
		v = v * 10 + (uint64_t)(*s++ - '0');
	if (end)
		*end = s;
	return v;
}

uint64_t first_number(const char *s, uint64_t def)
{
	while (*s && !(*s >= '0' && *s <= '9'))
		s++;
	return *s ? parse_u64(s, NULL) : def;
}

/* ---- Power ---- */

void poweroff(void)
{
	/* Without this the last bytes could still sit in the UART model when
	 * the VMM tears the machine down. */
	uart_flush();
	outw(ACPI_PM1A_CNT, ACPI_SLP_EN);
	for (;;)
		cpu_relax();
}
