/* libFuzzer target: kallsyms tables as a guest's memory would hold them
 * (vmi/kallsyms.c). The input is the buffer searched. Checked: parsing
 * never crashes, loops or leaks; a refusal is -ENOENT or -EINVAL with a
 * message and no handle; on success the tables lie within the input in
 * their order, every symbol is found again by its name (the first of that
 * name in table order) and by its address (offset 0), and nothing below
 * the lowest address symbolizes. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vmi/kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_kallsyms *k = (struct vmi_kallsyms *)1;
	struct vmi_kallsyms_where w;
	uint64_t lowest = UINT64_MAX, addr, a2, off;
	char err[160] = "";
	size_t n;
	int r;

	r = vmi_kallsyms_parse(data, size, &k, &w, err, sizeof(err));
	if (r) {
		if ((r != -ENOENT && r != -EINVAL) || k || !err[0])
			__builtin_trap();
		return 0;
	}
	if (!(w.offsets < w.relative_base &&
	      w.relative_base + 8 == w.num_syms && w.num_syms + 8 == w.names &&
	      w.names < w.markers && w.markers < w.token_table &&
	      w.token_table < w.token_index && w.token_index + 512 <= size))
		__builtin_trap();
	n = vmi_kallsyms_count(k);
	if (n == 0 || vmi_kallsyms_get(k, n, NULL, NULL, NULL) != -ENOENT)
		__builtin_trap();
	for (size_t i = 0; i < n; i++) {
		const char *name, *s;
		char type;

		if (vmi_kallsyms_get(k, i, &name, &addr, &type) || !type)
			__builtin_trap();
		if (addr < lowest)
			lowest = addr;
		if (vmi_kallsyms_lookup(k, name, &a2, NULL))
			__builtin_trap();
		s = vmi_kallsyms_symbolize(k, addr, &off);
		if (!s || off)
			__builtin_trap();
		/* The first of this name in table order is what lookup
		 * gives (checked for the first 64: quadratic). */
		for (size_t j = 0; i < 64 && j <= i; j++) {
			const char *nj;
			uint64_t aj;

			vmi_kallsyms_get(k, j, &nj, &aj, NULL);
			if (!strcmp(nj, name)) {
				if (aj != a2)
					__builtin_trap();
				break;
			}
		}
	}
	if (lowest && vmi_kallsyms_symbolize(k, lowest - 1, &off))
		__builtin_trap();
	vmi_kallsyms_free(k);
	return 0;
}
