/* Per-vCPU set-up: the CPUID KVM can virtualize, with this vCPU's APIC ID,
 * and the MSR values Linux expects from firmware. */
#include "vm.h"
#include "log.h"
#include "cpu_setup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPUID_HYPERVISOR_BIT (1u << 31) /* leaf 1 ECX */

int vcpu_set_cpuid(struct vcpu *v)
{
	const struct kvm_cpuid2 *src = v->vm->cpuid;
	size_t sz = sizeof(*src) + src->nent * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, src, sz);

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			/* Initial APIC ID and logical processor count. */
			e->ebx = (e->ebx & 0x0000ffffu) | ((uint32_t)v->id << 24) |
				 ((uint32_t)v->vm->nr_vcpus << 16);
			e->ecx |= CPUID_HYPERVISOR_BIT;
			if (v->vm->nr_vcpus > 1)
				e->edx |= 1u << 28; /* HTT: count is valid */
			break;
		case 0xb:
		case 0x1f:
			/* x2APIC topology: one thread per core. */
			e->edx = (uint32_t)v->id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = 0x100;
			} else if (e->index == 1) {
				e->eax = 8;
				e->ebx = (uint32_t)v->vm->nr_vcpus;
				e->ecx = 0x201;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		}
	}
	int ret = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	if (ret)
		return log_errno(ret, "vCPU %d: KVM_SET_CPUID2", v->id);
	return 0;
}

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE    0x2ff
#define MSR_IA32_TSC         0x10

int vcpu_set_msrs(struct vcpu *v)
{
	static const struct { uint32_t index; uint64_t value; } init[] = {
		{ MSR_IA32_MISC_ENABLE, 1 },           /* fast strings */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 }, /* MTRRs on, default WB */
		{ MSR_IA32_TSC, 0 },
	};
	enum { N = sizeof(init) / sizeof(init[0]) };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[N];
	} m = { .hdr.nmsrs = N };

	for (int i = 0; i < N; i++) {
		m.e[i].index = init[i].index;
		m.e[i].data = init[i].value;
	}
	int n = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (n < 0)
		return log_errno(-errno, "vCPU %d: KVM_SET_MSRS", v->id);
	/* KVM stops at the first MSR it does not know; not fatal. */
	if (n < N)
		log_debug("vCPU %d: KVM accepted %d of %d MSRs (stopped at %#x)",
			  v->id, n, N, init[n].index);
	return 0;
}
