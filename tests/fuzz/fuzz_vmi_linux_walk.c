/* libFuzzer target: the Linux layer's walkers (vmi/linux_tasks.c,
 * linux_modules.c, linux_mem.c) over guest memory the input controls, as
 * a malicious guest controls its own task and module lists.
 *
 * The harness builds page tables (not fuzzed) mapping the kernel's direct
 * map base 0xffff888000000000 with one 2 MiB page onto guest-physical
 * 0x200000, of which the first 256 KiB are RAM holding the input (the
 * rest is a hole: reads there fail). Byte 0 picks the struct layout (the
 * Debian 6.1 kernel's, or a compact one the fuzzer can fill easily),
 * bytes 1-4 where init_task and the modules list head are.
 *
 * Checked: every walk ends (the fuzzer's timeout catches a hang); a
 * success lists at most the documented maximum, NUL-terminated names; a
 * failure is one of the documented errnos with a message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/linux_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KBASE 0xffff888000000000ull
#define TABLES 0x1000ull	/* PML4, PDPT, PD at 0x1000, 0x2000, 0x3000 */
#define RAM_PA 0x200000ull
#define RAM_LEN (256u << 10)

struct fuzz_mem {
	struct vmi_mem mem;
	uint8_t tables[3 * 4096];
	uint8_t *ram;
};

static ssize_t fm_read(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	struct fuzz_mem *f = (struct fuzz_mem *)m;
	const uint8_t *base;
	uint64_t in, n;

	if (pa >= TABLES && pa < TABLES + sizeof(f->tables)) {
		base = f->tables;
		in = pa - TABLES;
		n = sizeof(f->tables) - in;
	} else if (pa >= RAM_PA && pa < RAM_PA + RAM_LEN) {
		base = f->ram;
		in = pa - RAM_PA;
		n = RAM_LEN - in;
	} else {
		return -EFAULT;
	}
	if (n > len)
		n = len;
	memcpy(buf, base + in, n);
	return (ssize_t)n;
}

static int fm_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	(void)m;
	if (pa < TABLES + 3 * 4096) {
		*r = (struct vmi_range){ TABLES, 3 * 4096 };
		return 0;
	}
	if (pa < RAM_PA + RAM_LEN) {
		*r = (struct vmi_range){ RAM_PA, RAM_LEN };
		return 0;
	}
	return -ENOENT;
}

static const struct vmi_mem_ops fuzz_ops = {
	.name = "fuzz",
	.read = fm_read,
	.next_range = fm_next,
};

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void layout_debian(struct vmi_linux_layout *ly)
{
	*ly = (struct vmi_linux_layout){
		.task = { .size = 9792, .tasks = 2192, .pid = 2416,
			  .tgid = 2420, .comm = 2976, .comm_size = 16,
			  .mm = 2272, .active_mm = 2280, .real_parent = 2432,
			  .cred = 2960, .state = 24, .state_size = 4,
			  .state_name = "__state", .flags = 44 },
		.cred = { .uid = 8 },
		.mm = { .pgd = 72, .pgd_size = 8 },
		.list_head = { .next = 0, .prev = 8 },
		.module = { .kind = VMI_MODULE_CORE_LAYOUT, .list = 8,
			    .name = 24, .name_size = 56, .state = 0,
			    .state_size = 4, .base = 320, .base_size = 8,
			    .mem_size = 328, .mem_size_size = 4 },
	};
}

static void layout_compact(struct vmi_linux_layout *ly)
{
	*ly = (struct vmi_linux_layout){
		.task = { .size = 96, .tasks = 0, .pid = 16, .tgid = 20,
			  .comm = 24, .comm_size = 16, .mm = 40,
			  .active_mm = 40, .real_parent = 48, .cred = 56,
			  .state = 64, .state_size = 4, .state_name = "__state",
			  .flags = 68 },
		.cred = { .uid = 4 },
		.mm = { .pgd = 8, .pgd_size = 8 },
		.list_head = { .next = 0, .prev = 8 },
		.module = { .kind = VMI_MODULE_MEM_TEXT, .list = 0,
			    .name = 16, .name_size = 56, .state = 72,
			    .state_size = 4, .base = 80, .base_size = 8,
			    .mem_size = 88, .mem_size_size = 4 },
	};
}

static void check(int r, const char *err)
{
	if (r > 0)
		__builtin_trap();
	if (r < 0 && (!err[0] || (r != -ELOOP && r != -EFAULT &&
				   r != -EUCLEAN && r != -ENOMEM &&
				   r != -EINVAL && r != -ESRCH)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_mem fm;
	struct vmi_linux *l;
	struct vmi_linux_task *t;
	struct vmi_linux_module *mods;
	char err[256];
	size_t n;
	uint64_t root;
	int r;

	if (size < 5)
		return 0;
	if (!fm.ram) {
		fm.ram = malloc(RAM_LEN);
		if (!fm.ram)
			return 0;
		/* PML4[273] -> PDPT; PDPT[0] -> PD; PD[0]: 2 MiB at RAM_PA. */
		put64(fm.tables + 273 * 8, (TABLES + 0x1000) | 3);
		put64(fm.tables + 0x1000, (TABLES + 0x2000) | 3);
		put64(fm.tables + 0x2000, RAM_PA | 0x83);
	}
	fm.mem.ops = &fuzz_ops;
	memset(fm.ram, 0, RAM_LEN);
	memcpy(fm.ram, data + 5, size - 5 < RAM_LEN ? size - 5 : RAM_LEN);

	l = calloc(1, sizeof(*l));
	if (!l)
		return 0;
	l->mem = &fm.mem;
	vmi_x86_pt_init(&l->pt, &fm.mem, 4);
	l->info.kernel_root = TABLES;
	if (data[0] & 1)
		layout_debian(&l->layout);
	else
		layout_compact(&l->layout);
	l->init_task = KBASE + ((uint64_t)(data[1] | data[2] << 8) << 2);
	l->modules = KBASE + ((uint64_t)(data[3] | data[4] << 8) << 2);

	err[0] = 0;
	r = vmi_linux_tasks(l, &t, &n, err, sizeof(err));
	check(r, err);
	if (r == 0) {
		if (n == 0 || n > VMI_LINUX_MAX_TASKS + 1)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if (strnlen(t[i].comm, sizeof(t[i].comm)) ==
			    sizeof(t[i].comm))
				__builtin_trap();
		free(t);
	}
	err[0] = 0;
	r = vmi_linux_modules(l, &mods, &n, err, sizeof(err));
	check(r, err);
	if (r == 0) {
		if (n > VMI_LINUX_MAX_MODULES)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			if (strnlen(mods[i].name, sizeof(mods[i].name)) ==
			    sizeof(mods[i].name))
				__builtin_trap();
		free(mods);
	}
	err[0] = 0;
	r = vmi_linux_pid_root(l, (int32_t)(data[1] % 8), &root, err,
			       sizeof(err));
	check(r, err);
	free(l);
	return 0;
}
