/* The Linux layer: what a Linux guest's kernel knows, read from outside
 * with no hand-made profile. Opening a guest finds, in this order:
 *
 *  - VMCOREINFO (a core's note, else the kernel's own page in RAM): the
 *    release, the KASLR offset, phys_base, init_top_pgt, 5-level paging;
 *  - the kernel's symbols: its kallsyms tables found in RAM, or a
 *    System.map checked against the guest (a stale or placeholder one is
 *    refused);
 *  - without VMCOREINFO, the KASLR offset and phys_base from a vCPU's
 *    CR3 and the symbols (the kernel's page tables map _text);
 *  - struct layouts from the kernel's BTF, read out of guest memory
 *    between __start_BTF and __stop_BTF (or a file given instead).
 *
 * Walks of guest lists are bounded and checked (a malicious guest can
 * make them loop or point anywhere): they end with an error, never hang.
 * See README.md. */
#ifndef VSB_VMI_LINUX_H
#define VSB_VMI_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux_btf.h"
#include "vmi_mem.h"

/* The most tasks or modules a walk visits before calling the list
 * corrupt: Linux's PID_MAX_LIMIT is 4M, but no guest we serve runs more
 * than this many processes. */
#define VMI_LINUX_MAX_TASKS   (1u << 20)
#define VMI_LINUX_MAX_MODULES 65536u

struct vmi_linux;

struct vmi_linux_opts {
	const char *btf_path;	 /* BTF file instead of the guest's own */
	const char *system_map;	 /* System.map instead of kallsyms */
	unsigned vcpu;		 /* whose CR3 the fallback uses */
	bool no_vmcoreinfo;	 /* find the kernel through page tables only
				  * (kernels without CRASH_CORE; checks) */
};

/* Where each piece of knowledge came from, for `vmi info` and logs. */
struct vmi_linux_info {
	char release[65];	 /* "6.1.0-56-amd64" */
	uint64_t kaslr_offset;	 /* _text - 0xffffffff81000000 */
	uint64_t phys_base;	 /* physical = virtual - __START_KERNEL_map + this */
	uint64_t kernel_root;	 /* physical address of init_top_pgt */
	unsigned levels;	 /* 4 or 5 */
	size_t nr_symbols;
	const char *kaslr_source; /* "vmcoreinfo", "page tables" */
	const char *symbol_source; /* "kallsyms", "System.map" */
	const char *btf_source;	 /* "guest memory", "file" */
	uint64_t vmcoreinfo_pa;	 /* 0 when from a core note or absent */
	uint64_t btf_size;
};

struct vmi_linux_task {
	uint64_t addr;		 /* task_struct's kernel virtual address */
	int32_t pid, tgid, ppid;
	uint32_t uid;
	uint32_t state;		 /* __state's TASK_* bits */
	uint32_t flags;		 /* PF_* */
	char comm[17];		 /* NUL-terminated, bytes as the guest has them */
	bool kthread;		 /* no mm (PF_KTHREAD or mm NULL) */
	uint64_t pgd;		 /* mm->pgd's physical address, 0 for kthreads */
};

struct vmi_linux_module {
	uint64_t addr;		 /* struct module's address */
	char name[57];
	uint64_t base;		 /* its core (text) memory */
	uint32_t size;
	uint32_t state;		 /* MODULE_STATE_* */
};

int vmi_linux_open(struct vmi_mem *m, const struct vmi_linux_opts *opts,
		   struct vmi_linux **out, char *err, size_t errlen);
void vmi_linux_close(struct vmi_linux *l);

const struct vmi_linux_info *vmi_linux_info(const struct vmi_linux *l);
const struct vmi_linux_layout *vmi_linux_layout(const struct vmi_linux *l);
struct vmi_mem *vmi_linux_mem(struct vmi_linux *l);

/* The guest may have run: drop cached translations (after resume, or
 * before each operation on a guest that is not paused). */
void vmi_linux_invalidate(struct vmi_linux *l);

/* linux_banner ("Linux version ..."), NUL-terminated, trailing newline
 * removed. 0 or -errno. */
int vmi_linux_banner(struct vmi_linux *l, char *buf, size_t len,
		     char *err, size_t errlen);

/* Every process (thread-group leader) from init_task's list, in list
 * order, init_task (pid 0) first. *out is malloc'd (free it). 0, or
 * -ELOOP (the list loops without returning to its head or exceeds
 * VMI_LINUX_MAX_TASKS), -EFAULT (a link points outside RAM or to
 * unmapped memory), -EUCLEAN (next->prev does not point back). */
int vmi_linux_tasks(struct vmi_linux *l, struct vmi_linux_task **out,
		    size_t *n, char *err, size_t errlen);
int vmi_linux_modules(struct vmi_linux *l, struct vmi_linux_module **out,
		      size_t *n, char *err, size_t errlen);

/* Symbols: 0 or -ENOENT. */
int vmi_linux_symbol(struct vmi_linux *l, const char *name, uint64_t *addr);
/* Name of the symbol at or below addr, *off from it; NULL if none. */
const char *vmi_linux_symbolize(struct vmi_linux *l, uint64_t addr,
				uint64_t *off);

/* Kernel virtual to physical through the kernel's own page tables. */
int vmi_linux_kva_to_pa(struct vmi_linux *l, uint64_t va, uint64_t *pa,
			char *err, size_t errlen);
/* The page-table root (physical) of process pid: -ESRCH no such process,
 * -EINVAL a kernel thread (no user memory). */
int vmi_linux_pid_root(struct vmi_linux *l, int32_t pid, uint64_t *root,
		       char *err, size_t errlen);

/* Reads and writes, with vmi_read_pa's convention (len, short count at
 * the first unmapped page, or -errno). pid -1: kernel virtual address;
 * otherwise that process's user address space. */
ssize_t vmi_linux_read_va(struct vmi_linux *l, int32_t pid, uint64_t va,
			  void *buf, size_t len, char *err, size_t errlen);
ssize_t vmi_linux_write_va(struct vmi_linux *l, int32_t pid, uint64_t va,
			   const void *buf, size_t len, char *err,
			   size_t errlen);

/* "running", "sleeping", "disk sleep", "stopped", "traced", "dead",
 * "zombie", "idle" from __state (exit_state folded in by the caller). */
const char *vmi_linux_state_name(uint32_t state);

#endif
