#ifndef VSB_KERNEL_LOAD_H
#define VSB_KERNEL_LOAD_H

#include <stdbool.h>

struct vm;
struct boot_entry;
struct boot_fb;

struct kernel_spec {
	const char *kernel;
	const char *initrd;  /* may be NULL */
	const char *cmdline; /* may be NULL */
	bool allow_pvm;      /* boot a bzImage even on kvm_pvm */
	/* The shadow framebuffer, or NULL. Linux gets it in screen_info; a
	 * PVH kernel gets " vsb.fb=0xADDR,WxH,STRIDE" after its cmdline. */
	const struct boot_fb *fb;
};

/* Reads the kernel (and initrd) files and loads them with the boot protocol
 * the image calls for. Returns 0, or a negative errno after printing one
 * line that says what is wrong with which file. -EPERM: a bzImage on a
 * KVM that cannot run it in useful time (kvm_pvm) without allow_pvm. */
int kernel_load(struct vm *vm, const struct kernel_spec *k,
		struct boot_entry *entry);

#endif
