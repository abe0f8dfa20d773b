#include "kernel_load.h"
#include "log.h"
#include "vm.h"
#include "../boot/boot.h"
#include "../devices/acpi_pm.h"
#include "../devices/pvpanic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The SCI's ISA IRQ, as on PC chipsets (QEMU's i440fx too). acpi_pm never
 * raises it, but the FADT must name one. */
#define ACPI_SCI_IRQ 9

struct file_map {
	const uint8_t *data;
	size_t len;
};

/* Maps a whole regular file read-only; a file larger than guest RAM can
 * never be loaded, so it is refused before mapping. */
static int map_file(const char *what, const char *path, uint64_t limit,
		    struct file_map *f)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return log_errno(-errno, "cannot open %s %s", what, path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		log_error("%s %s: not a regular file", what, path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > limit) {
		close(fd);
		log_error("%s %s: %lld bytes do not fit in %llu bytes of guest "
			  "RAM", what, path, (long long)st.st_size,
			  (unsigned long long)limit);
		return -ENOMEM;
	}
	f->len = (size_t)st.st_size;
	f->data = NULL;
	if (f->len) {
		void *p = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = -errno;
			close(fd);
			return log_errno(e, "cannot map %s %s", what, path);
		}
		f->data = p;
	}
	close(fd);
	return 0;
}

static void unmap_file(struct file_map *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
}

/* PVH has no screen_info: the framebuffer's place and shape go on the
 * command line, where the test guests look for them (guests/README.md). */
static char *pvh_cmdline(const struct kernel_spec *k)
{
	const char *base = k->cmdline ? k->cmdline : "";
	char *s;
	int n;

	if (!k->fb)
		return strdup(base);
	n = asprintf(&s, "%s%svsb.fb=0x%llx,%ux%u,%u", base, base[0] ? " " : "",
		     (unsigned long long)k->fb->base, k->fb->width,
		     k->fb->height, k->fb->stride);
	return n < 0 ? NULL : s;
}

int kernel_load(struct vm *vm, const struct kernel_spec *k,
		struct boot_entry *entry)
{
	struct file_map kf = { 0 }, rf = { 0 };
	struct e820_map e820;
	char err[256] = "";
	int ret;

	ret = map_file("kernel", k->kernel, vm->mem.size, &kf);
	if (ret)
		return ret;
	if (k->initrd) {
		ret = map_file("initrd", k->initrd, vm->mem.size, &rf);
		if (ret) {
			unmap_file(&kf);
			return ret;
		}
	}
	e820_build(&vm->mem, &e820);
	struct boot_params_in in = {
		.kernel = kf.data, .kernel_len = kf.len,
		.initrd = rf.data, .initrd_len = rf.len,
		.cmdline = k->cmdline, .e820 = &e820, .fb = k->fb,
	};
	/* ACPI tables describe the vCPUs (MADT), the PM1a registers that
	 * devices/acpi_pm serves at 0x600 and 0x604 (FADT, \_S5) and the
	 * pvpanic port (a QEMU0001 device in the DSDT), so Linux finds its
	 * CPUs, powers off and reports panics; they live in the reserved BIOS
	 * area. */
	ret = acpi_build(&vm->mem,
			 &(struct acpi_config){ .nr_cpus = (unsigned)vm->nr_vcpus,
						.pm1a_evt = ACPI_PM1A_EVT_BLK,
						.pm1a_cnt = ACPI_PM1A_CNT_BLK,
						.sci_irq = ACPI_SCI_IRQ,
						.pvpanic_port = PVPANIC_PORT },
			 &in.rsdp, err, sizeof(err));
	if (ret) {
		log_error("ACPI tables: %s", err);
		unmap_file(&kf);
		unmap_file(&rf);
		return ret;
	}
	switch (image_probe(kf.data, kf.len)) {
	case IMAGE_BZIMAGE:
		ret = linux_load(&vm->mem, &in, entry, err, sizeof(err));
		/* kvm_pvm emulates every guest CPL0 instruction: Linux would
		 * take hours to boot. Say so instead of seeming to hang;
		 * the image is checked first so its own errors come first. */
		if (ret == 0 && vm->pvm && !k->allow_pvm) {
			snprintf(err, sizeof(err), "this host's KVM is kvm_pvm, "
				 "which emulates guest kernel code: Linux would "
				 "not boot in useful time. Run it in the lab "
				 "(lab/run, see lab/README.md), or pass "
				 "--allow-pvm to try anyway");
			ret = -EPERM;
		}
		break;
	case IMAGE_PVH_ELF: {
		char *cmdline = pvh_cmdline(k);
		if (!cmdline) {
			ret = -ENOMEM;
			break;
		}
		in.cmdline = cmdline;
		ret = pvh_load(&vm->mem, &in, entry, err, sizeof(err));
		free(cmdline);
		break;
	}
	default:
		snprintf(err, sizeof(err), "neither a bzImage nor a PVH ELF "
			 "kernel (no HdrS magic, no XEN_ELFNOTE_PHYS32_ENTRY)");
		ret = -ENOEXEC;
	}
	if (ret)
		log_error("kernel %s: %s", k->kernel, err[0] ? err : strerror(-ret));
	unmap_file(&kf);
	unmap_file(&rf);
	return ret;
}
