/* vCPU threads: KVM_RUN, exit dispatch through the routing table, and the
 * stop/pause handshake with the rest of vsbd. */
#include "vm.h"
#include "cpu_setup.h"
#include "log.h"
#include "../boot/boot.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KICK_SIGNAL SIGUSR1

static int vcpu_create(struct vm *vm, int id)
{
	struct vcpu *v = &vm->vcpus[id];

	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return log_errno(-errno, "KVM_CREATE_VCPU %d", id);
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return log_errno(-errno, "mmap kvm_run of vCPU %d", id);
	}
	int ret = vcpu_set_cpuid(v);
	if (!ret)
		ret = vcpu_set_msrs(v);
	return ret;
}

static int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return log_errno(-errno, "KVM_GET_SREGS");
	memset(&regs, 0, sizeof(regs));
	boot_cpu_state(entry, &regs, &sregs);
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return log_errno(-errno, "KVM_SET_SREGS");
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return log_errno(-errno, "KVM_SET_REGS");
	return 0;
}

int vm_setup_vcpus(struct vm *vm, const struct boot_entry *entry)
{
	for (int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		int ret = vcpu_create(vm, i);
		if (ret)
			return ret;
	}
	/* Application processors wait for INIT/SIPI from the boot vCPU in
	 * the in-kernel LAPIC, as on hardware. */
	return vcpu_set_boot_state(&vm->vcpus[0], entry);
}

static void kick_handler(int sig)
{
	(void)sig;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, KICK_SIGNAL);
}

void vm_request_stop(struct vm *vm, int reason)
{
	int expected = VM_RUNNING;
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, reason))
		return;
	uint64_t one = 1;
	if (write(vm->stop_efd, &one, sizeof(one)) < 0)
		log_debug("stop eventfd: %s", strerror(errno));
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
}

static bool vm_stopping(struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_RUNNING;
}

/* Parks the calling vCPU while a pause is requested. Runs on every exit, so
 * the common case (no pause) is one atomic load and no lock. */
static void vcpu_maybe_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (!atomic_load(&vm->pause_req))
		return;
	pthread_mutex_lock(&vm->lock);
	if (vm->pause_req && !vm_stopping(vm)) {
		vm->parked++;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_req && !vm_stopping(vm))
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->lock);
}

void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = true;
	pthread_mutex_unlock(&vm->lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->running && !vm_stopping(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->pause_req = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* A vCPU counts as halted for good when it sleeps in HLT with interrupts
 * off (nothing but an NMI wakes it) or never got its INIT/SIPI. */
static void vcpu_check_halted(struct vcpu *v)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;

	v->halted = false;
	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
		return;
	if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
	    mp.mp_state == KVM_MP_STATE_INIT_RECEIVED) {
		v->halted = v->id != 0;
		return;
	}
	if (mp.mp_state != KVM_MP_STATE_HALTED)
		return;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return;
	v->halted = !(regs.rflags & (1u << 9));
}

/* One line of vCPU state for post-mortems of guests that died. */
static void vcpu_log_state(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return;
	log_info("vCPU %d: rip=%#llx rsp=%#llx rflags=%#llx cs=%#x cr0=%#llx "
		 "cr3=%#llx cr4=%#llx efer=%#llx", v->id,
		 (unsigned long long)r.rip, (unsigned long long)r.rsp,
		 (unsigned long long)r.rflags, s.cs.selector,
		 (unsigned long long)s.cr0, (unsigned long long)s.cr3,
		 (unsigned long long)s.cr4, (unsigned long long)s.efer);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool wr = run->io.direction == KVM_EXIT_IO_OUT;

	/* rep ins/outs hand us count elements at once. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		io_router_dispatch(&v->vm->io, IO_SPACE_PIO, run->io.port, data,
				   run->io.size, wr);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	io_router_dispatch(&v->vm->io, IO_SPACE_MMIO, run->mmio.phys_addr,
			   run->mmio.data, len, run->mmio.is_write);
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->io_exits++;
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		v->mmio_exits++;
		handle_mmio(v);
		return true;
	case KVM_EXIT_HLT:
		vm_request_stop(vm, VM_STOP_HALTED);
		return false;
	case KVM_EXIT_SHUTDOWN:
		log_info("vCPU %d: triple fault", v->id);
		vcpu_log_state(v);
		vm_request_stop(vm, VM_STOP_TRIPLE_FAULT);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_stop(vm, VM_STOP_POWEROFF);
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_stop(vm, VM_STOP_RESET);
			break;
		default:
			log_error("vCPU %d: system event %u", v->id,
				  run->system_event.type);
			vm_request_stop(vm, VM_STOP_ERROR);
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		log_error("vCPU %d: KVM could not enter the guest (reason %#llx)",
			  v->id, (unsigned long long)
			  run->fail_entry.hardware_entry_failure_reason);
		vm_request_stop(vm, VM_STOP_ERROR);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		log_error("vCPU %d: KVM internal error, suberror %u", v->id,
			  run->internal.suberror);
		vcpu_log_state(v);
		vm_request_stop(vm, VM_STOP_ERROR);
		return false;
	default:
		log_error("vCPU %d: unhandled exit reason %u", v->id,
			  run->exit_reason);
		vm_request_stop(vm, VM_STOP_ERROR);
		return false;
	}
}

static void vcpu_thread_signals(void)
{
	sigset_t set;

	struct sigaction sa = { .sa_handler = kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(KICK_SIGNAL, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

_Thread_local int vcpu_self_id = -1;

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;

	vcpu_self_id = v->id;
	vcpu_thread_signals();
	while (!vm_stopping(vm)) {
		vcpu_maybe_park(v);
		if (vm_stopping(vm))
			break;
		int r = ioctl(v->fd, KVM_RUN, 0);
		int err = errno;
		atomic_fetch_add(&v->exits, 1);
		if (r < 0) {
			if (err == EINTR || err == EAGAIN) {
				__atomic_store_n(&v->run->immediate_exit, 0,
						 __ATOMIC_SEQ_CST);
				vcpu_check_halted(v);
				continue;
			}
			log_error("vCPU %d: KVM_RUN: %s", v->id, strerror(err));
			vm_request_stop(vm, VM_STOP_ERROR);
			break;
		}
		v->halted = false;
		if (!handle_exit(v))
			break;
	}
	pthread_mutex_lock(&vm->lock);
	vm->running--;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vm_start(struct vm *vm)
{
	vm->running = vm->nr_vcpus;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int e = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (e) {
			pthread_mutex_lock(&vm->lock);
			vm->running -= vm->nr_vcpus - i;
			pthread_mutex_unlock(&vm->lock);
			vm_request_stop(vm, VM_STOP_ERROR);
			return log_errno(-e, "cannot start vCPU %d", i);
		}
		v->started = true;
	}
	return 0;
}

int vm_wait(struct vm *vm)
{
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (v->started) {
			pthread_join(v->thread, NULL);
			v->started = false;
			log_debug("vCPU %d: %lu exits to vsbd (%lu port I/O, "
				  "%lu MMIO)", i, atomic_load(&v->exits),
				  v->io_exits, v->mmio_exits);
		}
	}
	int r = atomic_load(&vm->stop_reason);
	return r == VM_RUNNING ? VM_STOP_ERROR : r;
}

void vm_watchdog_tick(struct vm *vm)
{
	bool all_halted = true;

	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		unsigned long n = atomic_load(&v->exits);
		/* A vCPU that stayed inside KVM_RUN for a whole tick may be
		 * asleep in HLT: kick it so it looks at its own state. */
		if (v->started && (n == v->watch_exits || v->halted))
			vcpu_kick(v);
		v->watch_exits = n;
		all_halted = all_halted && v->halted;
	}
	if (all_halted)
		vm_request_stop(vm, VM_STOP_HALTED);
	else if (atomic_load(&vm->stop_reason) != VM_RUNNING)
		for (int i = 0; i < vm->nr_vcpus; i++)
			vcpu_kick(&vm->vcpus[i]);
}
