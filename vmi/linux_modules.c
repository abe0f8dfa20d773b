/* The module list: the `modules` ring of struct module, name and core
 * memory at the offsets BTF gave (core_layout up to 6.3, mem[MOD_TEXT]
 * from 6.4). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linux_priv.h"
#include "vmi_err.h"

struct mod_acc {
	struct vmi_linux_module *v;
	size_t n, cap;
	char *err;
	size_t errlen;
};

static int add_module(struct vmi_linux *l, uint64_t node, void *arg)
{
	const struct vmi_linux_layout *ly = &l->layout;
	struct mod_acc *a = arg;
	struct vmi_linux_module m = { .addr = node - ly->module.list };
	uint32_t span = 0, f[][2] = {
		{ ly->module.name, ly->module.name_size },
		{ ly->module.state, ly->module.state_size },
		{ ly->module.base, 8 },
		{ ly->module.mem_size, 4 },
	};
	uint8_t *b;
	int r;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i][0] + f[i][1] > span)
			span = f[i][0] + f[i][1];
	if (span > (1u << 16))
		return vmi_err(a->err, a->errlen, -EINVAL, "struct module "
			       "fields beyond 64 KiB: implausible BTF");
	b = malloc(span);
	if (!b)
		return vmi_err(a->err, a->errlen, -ENOMEM, "out of memory");
	r = linux_kread(l, m.addr, b, span, "module list", a->err,
			a->errlen);
	if (r == 0) {
		size_t nn = ly->module.name_size < sizeof(m.name) - 1 ?
			    ly->module.name_size : sizeof(m.name) - 1;
		memcpy(m.name, b + ly->module.name, nn);
		m.name[nn] = '\0';
		m.state = (uint32_t)linux_field(b, ly->module.state,
						ly->module.state_size > 4 ? 4 :
						ly->module.state_size);
		m.base = linux_field(b, ly->module.base, 8);
		m.size = (uint32_t)linux_field(b, ly->module.mem_size, 4);
	}
	free(b);
	if (r < 0)
		return r;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct vmi_linux_module *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return vmi_err(a->err, a->errlen, -ENOMEM,
				       "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = m;
	return 0;
}

int vmi_linux_modules(struct vmi_linux *l, struct vmi_linux_module **out,
		      size_t *n, char *err, size_t errlen)
{
	struct mod_acc a = { .err = err, .errlen = errlen };
	int r = 0;

	*out = NULL;
	*n = 0;
	if (l->layout.module.kind == VMI_MODULE_MEM_NONE)
		return 0; /* CONFIG_MODULES=n: no modules, not an error */
	if (vmi_mem_is_live(l->mem))
		vmi_x86_invalidate(&l->pt);
	r = linux_list_walk(l, l->modules, VMI_LINUX_MAX_MODULES,
			    "module list", add_module, &a, err, errlen);
	if (r < 0) {
		free(a.v);
		return r;
	}
	*out = a.v;
	*n = a.n;
	return 0;
}
