/* libFuzzer target: VM definition files (vmm/vmconf.c). The input is the
 * file's text. Checked: parsing never crashes or leaks; on success every
 * argument is "--key..." and path values of a relative directory stay
 * under it; on failure the error names a line and nothing is returned. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmconf c;
	char err[160] = "";
	int ret = vmconf_parse((const char *)data, size, "d", &c, err,
			       sizeof(err));

	if (ret == 0) {
		for (size_t i = 0; i < c.nargs; i++)
			if (strncmp(c.args[i], "--", 2) != 0)
				abort();
		if (c.kernel && c.kernel[0] != '/' &&
		    strncmp(c.kernel, "d/", 2) != 0)
			abort();
		vmconf_free(&c);
	} else {
		if (ret != -EINVAL && ret != -ENOMEM)
			abort();
		if (ret == -EINVAL && strncmp(err, "line ", 5) != 0)
			abort();
		if (c.args || c.kernel)
			abort();
	}
	return 0;
}
