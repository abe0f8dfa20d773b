/* Runtime for the PVH test guests: port and MMIO access, the COM1 16550,
 * a small printf, string helpers, the boot command line, poweroff.
 *
 * Guest code runs at CPL3 with IOPL=3 and a 4 GiB identity map (see start.S),
 * so in/out and MMIO are plain instructions; each one is a VM exit. A guest
 * provides main(); returning from it powers the machine off. */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- PVH boot information (Xen public/arch-x86/hvm/start_info.h) ---- */

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;        /* >= 1: memmap fields are valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;  /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* struct hvm_memmap_table_entry[] */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* E820 type: 1 = RAM */
	uint32_t reserved;
};

/* NULL if the loader passed no valid start info. */
const struct hvm_start_info *rt_start_info(void);
/* The boot command line; "" if none. */
const char *rt_cmdline(void);

/* ---- Port I/O ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* ---- MMIO (physical = virtual below 4 GiB; 3-4 GiB is mapped uncached) ---- */

static inline uint8_t mmio_read8(uint64_t pa)
{
	return *(volatile uint8_t *)(uintptr_t)pa;
}
static inline uint16_t mmio_read16(uint64_t pa)
{
	return *(volatile uint16_t *)(uintptr_t)pa;
}
static inline uint32_t mmio_read32(uint64_t pa)
{
	return *(volatile uint32_t *)(uintptr_t)pa;
}
static inline uint64_t mmio_read64(uint64_t pa)
{
	return *(volatile uint64_t *)(uintptr_t)pa;
}
static inline void mmio_write8(uint64_t pa, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)pa = v;
}
static inline void mmio_write16(uint64_t pa, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)pa = v;
}
static inline void mmio_write32(uint64_t pa, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)pa = v;
}
static inline void mmio_write64(uint64_t pa, uint64_t v)
{
	*(volatile uint64_t *)(uintptr_t)pa = v;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" : : : "memory");
}

/* ---- COM1 16550 UART, polled ---- */

#define UART_BASE 0x3f8
#define UART_RBR  0 /* read: receive buffer */
#define UART_THR  0 /* write: transmit holding */
#define UART_IER  1
#define UART_FCR  2
#define UART_LCR  3
#define UART_MCR  4
#define UART_LSR  5
#define UART_LSR_DR   0x01 /* a received byte is waiting */
#define UART_LSR_THRE 0x20 /* THR can take a byte */
#define UART_LSR_TEMT 0x40 /* transmitter completely idle */

void uart_init(void);
/* Polls THRE before the byte; no \n -> \r\n translation. */
void uart_putc(char c);
void uart_puts(const char *s);
/* Blocks until a byte arrives (polls DR). */
uint8_t uart_getc(void);
/* -1 if no byte is waiting. */
int uart_getc_nb(void);
/* Waits until everything written has left the transmitter. */
void uart_flush(void);

/* ---- Formatted output to the UART ----
 * Conversions: %d %i %u %x %X %p %s %c %%, length l/ll/z, flags '0' and '-',
 * a decimal field width. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* ---- Strings and memory (gcc may also emit calls to the mem* ones) ---- */

void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *hay, const char *needle);

/* Parses decimal digits at s (no sign, no skipping); *end, if not NULL, is
 * set past the last digit. Overflow wraps. */
uint64_t parse_u64(const char *s, const char **end);
/* The first run of decimal digits in s; def if there is none. */
uint64_t first_number(const char *s, uint64_t def);

/* ---- Power ----
 * Writes SLP_EN|SLP_TYP=0 (0x2000) to the ACPI PM1a control register at port
 * 0x604: QEMU's i440fx (PM base 0x600 as SeaBIOS programs it) and vsbd both
 * power off on it. Flushes the UART first. Spins if nothing happens (CPL3
 * cannot hlt). */
__attribute__((noreturn)) void poweroff(void);

#define ACPI_PM1A_CNT 0x604
#define ACPI_SLP_EN   0x2000

/* The one way back to CPL0: start.S's DPL3 interrupt gate at this vector
 * (#BP, reached with int3; see start.S for why not 0x80) runs `cli; hlt` at
 * CPL0 forever, the "halted with interrupts off" state a VMM can detect
 * (CPL3 cannot hlt). The UART is not flushed: call uart_flush() first if
 * output must be complete. */
#define RT_HALT_VECTOR 3

__attribute__((noreturn)) static inline void cpl0_halt(void)
{
	__asm__ volatile("int3" : : : "memory");
	__builtin_unreachable();
}

/* Provided by each guest. */
int main(void);

#endif
