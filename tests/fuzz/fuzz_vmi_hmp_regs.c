/* libFuzzer target: the text of HMP `info registers` (vmi/hmp_regs.c) as
 * a broken or hostile QEMU could send it through QMP. The input is the
 * text, not NUL-terminated (the parser takes a length). Checked: parsing
 * ends in 0 or -EPROTO with a message; a success has the general
 * registers, only known valid bits, a CPU number that matches, and came
 * from text naming AX; a failure leaves nothing valid; the same text
 * always parses the same. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "vmi/hmp_regs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint32_t all = VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR |
			     VMI_REGS_DT;
	struct vmi_regs r, again;
	char err[160] = "";
	int cpu = 7, cpu2;
	int ret = vmi_hmp_parse_regs((const char *)data, size, &r, &cpu, err,
				     sizeof(err));

	if (ret == 0) {
		if (!(r.valid & VMI_REGS_GPR) || (r.valid & ~all) || cpu < -1 ||
		    (cpu >= 0 && r.cpu_id != (uint32_t)cpu) ||
		    !memmem(data, size, "AX", 2))
			__builtin_trap();
	} else if (ret != -EPROTO || !err[0] || r.valid || cpu != -1) {
		__builtin_trap();
	}
	if (vmi_hmp_parse_regs((const char *)data, size, &again, &cpu2, NULL,
			       0) != ret || cpu2 != cpu ||
	    memcmp(&r, &again, sizeof(r)))
		__builtin_trap();
	return 0;
}
