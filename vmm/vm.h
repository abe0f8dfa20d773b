/* A VM as vsbd sees it: KVM handles, guest RAM, vCPU threads, the I/O
 * routing table and the stop/pause state shared by all threads. */
#ifndef VSB_VM_H
#define VSB_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "ioroute.h"

#define VM_MAX_VCPUS 64

/* Why a VM stopped; each maps to a distinct process exit code (vsbd.1). */
enum vm_stop_reason {
	VM_RUNNING = -1,
	VM_STOP_POWEROFF = 0,    /* ACPI PM1a SLP_EN or KVM system event */
	VM_STOP_ERROR = 1,       /* KVM refused to run the vCPU, or a bug */
	VM_STOP_RESET = 4,       /* guest asked for a reset (i8042, KVM event) */
	VM_STOP_TRIPLE_FAULT = 5,
	VM_STOP_HALTED = 6,      /* every vCPU halted with interrupts off */
	VM_STOP_PANIC = 7,       /* the guest kernel panicked (pvpanic) */
	VM_STOP_SIGNAL = 128,    /* + signal number */
};

struct vm;

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	atomic_ulong exits;      /* exits seen, for the halt watchdog */
	atomic_bool halted;      /* last seen halted with IF=0 */
	unsigned long watch_exits; /* exits at the last watchdog tick */
	unsigned long io_exits, mmio_exits; /* written by this vCPU only */
};

struct vm {
	int kvm_fd;
	int fd;
	int run_size;
	bool pvm; /* /dev/kvm is kvm_pvm: CPL0 guest code is emulated */
	struct guest_mem mem;
	struct io_router io;
	struct kvm_cpuid2 *cpuid;

	int nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop_reason;  /* VM_RUNNING until something stops the VM */
	atomic_bool pause_req;   /* written under lock, peeked without */
	int parked;              /* vCPUs parked by a pause */
	int running;             /* vCPU threads not yet exited */
	int stop_efd;            /* readable once the VM stopped */
};

struct vm_config {
	uint64_t ram_size;
	int nr_vcpus;
};

/* Opens /dev/kvm, creates the VM, irqchip, PIT and RAM. Returns 0 or a
 * negative errno with a message printed. */
int vm_create(struct vm *vm, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);

/* Creates the vCPUs (CPUID, MSRs) and sets the boot vCPU's registers. */
struct boot_entry;
int vm_setup_vcpus(struct vm *vm, const struct boot_entry *entry);

int vm_start(struct vm *vm);
/* Waits until the VM stops and all vCPU threads exited; returns the reason. */
int vm_wait(struct vm *vm);

/* Asks the VM to stop; the first reason wins. Safe from any thread (not
 * from a signal handler: use vm_stop_from_signal there). */
void vm_request_stop(struct vm *vm, int reason);

/* Parks every vCPU outside guest mode; returns once all are parked. */
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);

/* Sets a GSI's level through the in-kernel irqchip. */
void vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* Called about every 100 ms by the main loop: detects a VM whose vCPUs all
 * halted with interrupts off, and re-kicks vCPUs of a stopping VM. */
void vm_watchdog_tick(struct vm *vm);

/* Makes a vCPU leave KVM_RUN soon (used by stop, pause, watchdog). */
void vcpu_kick(struct vcpu *v);
void *vcpu_thread(void *arg);

/* The vCPU index of the calling thread, -1 outside vCPU threads. */
extern _Thread_local int vcpu_self_id;

#endif
