/* smp: starts the application processors the classic way, INIT then SIPI
 * twice through the xAPIC ICR, and counts how many arrive. N, the number of
 * CPUs including this one, is the first decimal number on the command line
 * (default 2); APs are assumed to have APIC IDs 1..N-1. Prints
 * "smp: N cpus up\n", or "smp: only K of N cpus up\n" if only K (counting
 * the boot CPU) arrived before the timeout, then powers off.
 *
 * Everything here runs at CPL3: the ICR is MMIO, reachable because the
 * stub maps 3-4 GiB uncached and user-accessible. Each AP runs a handful of
 * 16-bit real-mode instructions (emulated on PVM hosts) and halts. */
#include "rt.h"

/* The trampoline's home and so the SIPI vector (page number). 4 KiB
 * aligned and below 1 MiB as SIPI requires; clear of what vsbd uses for
 * boot data (0x500-0x7fff, 0x9000-0x20fff). The cmdline and start info
 * may live in low memory too, so they are read before the copy. */
#define TRAMP_PA    0x30000u
#define SIPI_VECTOR (TRAMP_PA >> 12)

#define LAPIC_BASE   0xFEE00000u
#define LAPIC_SVR    0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310 /* destination APIC ID in bits 31:24 */
#define SVR_ENABLE   0x100
#define ICR_BUSY     (1u << 12) /* delivery status: send pending */
#define ICR_INIT     0x4500u    /* delivery mode INIT, level assert */
#define ICR_SIPI     0x4600u    /* delivery mode start-up, level assert */

/* xAPIC physical destinations are 8 bits and 0xFF is broadcast. */
#define MAX_CPUS 255

/* Delays in TSC ticks, assuming a TSC of roughly 1-5 GHz (rdtsc works at
 * CPL3 since CR4.TSD is clear). The INIT/SIPI pauses follow the MP spec
 * (10 ms, 200 us) for real hardware; virtual APICs do not need them. */
#define TSC_INIT_DELAY  30000000ull    /* ~10 ms at 3 GHz */
#define TSC_SIPI_DELAY  600000ull      /* ~200 us at 3 GHz */
#define TSC_ICR_TIMEOUT 300000000ull   /* ~100 ms: give up polling ICR */
#define TSC_AP_TIMEOUT  15000000000ull /* ~5 s at 3 GHz: generous, as APs'
					* real-mode code may be emulated */

/* The AP trampoline, copied to TRAMP_PA. A SIPI starts the AP in real mode
 * with CS = SIPI_VECTOR << 8 (base TRAMP_PA), IP = 0. DS = CS so the
 * counter is addressed by its offset in the page. */
__asm__(".pushsection .rodata.smp_tramp, \"a\", @progbits\n"
	".code16\n"
	"smp_tramp_start:\n"
	"	movw	%cs, %ax\n"
	"	movw	%ax, %ds\n"
	"	lock incw (smp_tramp_count - smp_tramp_start)\n"
	/* IF is already 0 after INIT; hlt with IF=0 is this AP's end. */
	"1:	cli\n"
	"	hlt\n"
	"	jmp	1b\n"
	"	.p2align 1\n"
	"smp_tramp_count:\n"
	"	.word	0\n" /* APs that arrived; copied as 0 */
	"smp_tramp_end:\n"
	".code64\n"
	".popsection\n");
extern const char smp_tramp_start[], smp_tramp_count[], smp_tramp_end[];

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void delay(uint64_t ticks)
{
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < ticks)
		cpu_relax();
}

/* Sends one IPI and waits (bounded) until the APIC has accepted it. */
static void send_ipi(uint32_t apic_id, uint32_t icr)
{
	mmio_write32(LAPIC_BASE + LAPIC_ICR_HI, apic_id << 24);
	mmio_write32(LAPIC_BASE + LAPIC_ICR_LO, icr); /* this write sends */

	uint64_t t0 = rdtsc();
	while ((mmio_read32(LAPIC_BASE + LAPIC_ICR_LO) & ICR_BUSY) &&
	       rdtsc() - t0 < TSC_ICR_TIMEOUT)
		cpu_relax();
}

int main(void)
{
	uint64_t n = first_number(rt_cmdline(), 2);

	if (n < 1)
		n = 1;
	if (n > MAX_CPUS)
		n = MAX_CPUS;

	memcpy((void *)(uintptr_t)TRAMP_PA, smp_tramp_start,
	       (size_t)(smp_tramp_end - smp_tramp_start));
	volatile uint16_t *count = (volatile uint16_t *)(uintptr_t)
		(TRAMP_PA + (uintptr_t)(smp_tramp_count - smp_tramp_start));

	/* Software-enable the local APIC, as OSes do before sending IPIs; the
	 * SDM only promises that a disabled one still accepts INIT/SIPI.
	 * Harmless with IF=0. Spurious vector 0xFF. */
	mmio_write32(LAPIC_BASE + LAPIC_SVR, SVR_ENABLE | 0xFF);

	for (uint32_t id = 1; id < n; id++) {
		send_ipi(id, ICR_INIT);
		delay(TSC_INIT_DELAY);
		send_ipi(id, ICR_SIPI | SIPI_VECTOR);
		delay(TSC_SIPI_DELAY);
		/* Ignored by an AP that already left wait-for-SIPI. */
		send_ipi(id, ICR_SIPI | SIPI_VECTOR);
	}

	uint64_t t0 = rdtsc();
	while (*count < n - 1 && rdtsc() - t0 < TSC_AP_TIMEOUT)
		cpu_relax();

	uint64_t up = 1 + *count;
	if (up >= n)
		printf("smp: %u cpus up\n", (unsigned)n);
	else
		printf("smp: only %u of %u cpus up\n", (unsigned)up,
		       (unsigned)n);
	return 0; /* rt_start powers off */
}
