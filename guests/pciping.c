/* pciping: times PCI configuration reads, the exit a VMM forwards to the
 * operator's device model (vsb-ghv) when the slot is the operator's, and
 * handles itself for the host bridge. It prints the vendor/device IDs of
 * slots 0..31 ("pciping: 00 8086:1237" for each present one), then, for
 * each of ROUNDS rounds, N reads of the host bridge's ID dword ("pciping:
 * shadow N") and N of slot S's ("pciping: forwarded N"), and powers off.
 * One inl per read (CONFIG_ADDRESS is written once per run), so every
 * read is exactly one exit; a test times the lines' arrival. Cmdline
 * words: n=N (default 20000), slot=S (default 3), rounds=R (default 3). */
#include "rt.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc

static uint64_t word_value(const char *key, uint64_t def)
{
	const char *c = rt_cmdline(), *p = strstr(c, key);

	if (!p || (p != c && p[-1] != ' '))
		return def;
	return first_number(p + strlen(key), def);
}

static uint32_t cfg_addr(unsigned slot)
{
	return 0x80000000u | (uint32_t)slot << 11;
}

static uint32_t read_many(unsigned slot, uint64_t n)
{
	uint32_t v = 0;

	outl(PCI_ADDR, cfg_addr(slot));
	for (uint64_t i = 0; i < n; i++)
		v = inl(PCI_DATA);
	return v;
}

int main(void)
{
	uint64_t n = word_value("n=", 20000);
	unsigned slot = (unsigned)word_value("slot=", 3) & 31;
	uint64_t rounds = word_value("rounds=", 3);

	uart_init();
	for (unsigned s = 0; s < 32; s++) {
		uint32_t id = read_many(s, 1);
		if (id != 0xffffffffu)
			printf("pciping: %02u %04x:%04x\n", s, id & 0xffff,
			       id >> 16);
	}
	printf("pciping: timing n=%lu slot=%u\n", (unsigned long)n, slot);
	for (uint64_t r = 0; r < rounds; r++) {
		read_many(0, n);
		printf("pciping: shadow %lu\n", (unsigned long)n);
		read_many(slot, n);
		printf("pciping: forwarded %lu\n", (unsigned long)n);
	}
	uart_flush();
	return 0;
}
