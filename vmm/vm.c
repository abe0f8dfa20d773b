/* VM creation: /dev/kvm, guest RAM in a memfd, in-kernel irqchip and PIT. */
#include "vm.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* kvm_pvm virtualizes without VMX/SVM by emulating CPL0 code, which makes
 * unmodified kernels boot far too slowly to be useful. */
static bool kvm_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static int map_ram(struct vm *vm, uint64_t size)
{
	int fd = memfd_create("vsbd-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return log_errno(-errno, "memfd_create");
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = -errno;
		close(fd);
		return log_errno(e, "cannot size guest RAM to %llu bytes",
				 (unsigned long long)size);
	}
	/* The memfd goes to introspection and to the operator's vsb-ghv for
	 * DMA: sealed, none of them can shrink it under vsbd's mapping (a
	 * SIGBUS in the TCB) or grow it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		int e = -errno;
		close(fd);
		return log_errno(e, "cannot seal guest RAM");
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return log_errno(e, "cannot map guest RAM");
	}
	vm->mem.host = p;
	vm->mem.size = size;
	vm->mem.low_size = size < GMEM_LOW_MAX ? size : GMEM_LOW_MAX;
	vm->mem.fd = fd;
	return 0;
}

static int add_slot(struct vm *vm, uint32_t slot, uint64_t gpa, void *host,
		    uint64_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return log_errno(-errno, "KVM_SET_USER_MEMORY_REGION slot %u",
				 slot);
	return 0;
}

static int setup_memory(struct vm *vm, uint64_t size)
{
	int ret = map_ram(vm, size);
	if (ret)
		return ret;
	ret = add_slot(vm, 0, 0, vm->mem.host, vm->mem.low_size);
	if (ret == 0 && size > vm->mem.low_size)
		ret = add_slot(vm, 1, GMEM_HIGH_BASE,
			       vm->mem.host + vm->mem.low_size,
			       size - vm->mem.low_size);
	return ret;
}

static int setup_irqchip(struct vm *vm)
{
	/* Needed on VMX before the first vCPU; harmless elsewhere. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t idmap = 0xfffbc000;
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));

	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP) < 0)
		return log_errno(-errno, "KVM_CREATE_IRQCHIP");
	/* The dummy speaker answers port 0x61, which Linux reads while
	 * calibrating the TSC against the PIT. */
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		return log_errno(-errno, "KVM_CREATE_PIT2");
	return 0;
}

static int get_supported_cpuid(struct vm *vm)
{
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			vm->cpuid = c;
			return 0;
		}
		int e = errno;
		free(c);
		if (e != E2BIG)
			return log_errno(-e, "KVM_GET_SUPPORTED_CPUID");
	}
	return log_errno(-E2BIG, "KVM_GET_SUPPORTED_CPUID");
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->kvm_fd = vm->stop_efd = vm->mem.fd = -1;
	io_router_init(&vm->io);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	atomic_store(&vm->stop_reason, VM_RUNNING);
	vm->nr_vcpus = cfg->nr_vcpus;
	vm->pvm = kvm_is_pvm();

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return log_errno(-errno, "cannot open /dev/kvm");
	int ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		return log_errno(-ENOTSUP, "KVM API version %d, need %d", ver,
				 KVM_API_VERSION);
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0)
		return log_errno(-errno, "KVM_GET_VCPU_MMAP_SIZE");
	vm->fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return log_errno(-errno, "KVM_CREATE_VM");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return log_errno(-errno, "eventfd");

	int ret = setup_memory(vm, cfg->ram_size);
	if (!ret)
		ret = setup_irqchip(vm);
	if (!ret)
		ret = get_supported_cpuid(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->run)
			munmap(v->run, (size_t)vm->run_size);
		if (v->fd >= 0 && v->vm)
			close(v->fd);
	}
	if (vm->mem.host)
		munmap(vm->mem.host, vm->mem.size);
	if (vm->mem.fd >= 0)
		close(vm->mem.fd);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	free(vm->cpuid);
	io_router_destroy(&vm->io);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
}

void vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };
	if (ioctl(vm->fd, KVM_IRQ_LINE, &l) < 0)
		log_warn_once("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}
