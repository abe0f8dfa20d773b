/* Internal to the Linux layer (linux_*.c): the open guest's state and
 * the helpers its walkers share. */
#ifndef VSB_VMI_LINUX_PRIV_H
#define VSB_VMI_LINUX_PRIV_H

#include "kallsyms.h"
#include "linux.h"
#include "linux_btf.h"
#include "sysmap.h"
#include "vmcoreinfo.h"
#include "x86_walk.h"

/* x86-64's fixed kernel map: the image is linked at _text = this +
 * CONFIG_PHYSICAL_START (16 MiB, Debian's and the default). */
#define LINUX_START_KERNEL_MAP 0xffffffff80000000ull
#define LINUX_DEFAULT_TEXT     0xffffffff81000000ull
/* KERNEL_IMAGE_SIZE with KASLR: where _text may land. */
#define LINUX_KASLR_SPAN       (1ull << 30)
#define LINUX_KASLR_ALIGN      (2ull << 20)

#define LINUX_PF_KTHREAD 0x00200000u

struct vmi_linux {
	struct vmi_mem *mem;
	struct vmi_x86_pt pt;
	struct vmi_linux_info info;
	struct vmi_linux_layout layout;
	struct vmi_vmcoreinfo *vci;
	struct vmi_kallsyms *ksyms;
	struct vmi_sysmap *sysmap;
	struct vmi_btf *btf;
	uint64_t init_task, modules;	/* symbol addresses */
};

/* Kernel virtual reads through the kernel's tables: 0, or -EFAULT with
 * a message naming what was being read. */
int linux_kread(struct vmi_linux *l, uint64_t va, void *buf, size_t len,
		const char *what, char *err, size_t errlen);
int linux_kread_u64(struct vmi_linux *l, uint64_t va, uint64_t *v,
		    const char *what, char *err, size_t errlen);

/* Little-endian field of width size (1, 2, 4 or 8) at off in buf. */
uint64_t linux_field(const uint8_t *buf, uint32_t off, uint32_t size);

/* A set of kernel addresses, for loop detection in guest lists. */
struct linux_addrset {
	uint64_t *slot;
	size_t cap, n;
};
/* 1 if added, 0 if it was there, -ENOMEM. */
int linux_addrset_add(struct linux_addrset *s, uint64_t a);
void linux_addrset_free(struct linux_addrset *s);

/* Walks a kernel list_head ring from head: calls fn for each entry's
 * list_head address until the ring returns to head. Checks each
 * next->prev, refuses loops and more than max entries. 0, the first
 * nonzero fn result, or -ELOOP / -EFAULT / -EUCLEAN with a message. */
int linux_list_walk(struct vmi_linux *l, uint64_t head, size_t max,
		    const char *what,
		    int (*fn)(struct vmi_linux *l, uint64_t node, void *arg),
		    void *arg, char *err, size_t errlen);

#endif
