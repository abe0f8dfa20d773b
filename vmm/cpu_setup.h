#ifndef VSB_CPU_SETUP_H
#define VSB_CPU_SETUP_H

struct vcpu;
int vcpu_set_cpuid(struct vcpu *v);
int vcpu_set_msrs(struct vcpu *v);

#endif
