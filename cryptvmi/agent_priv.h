/* The agent's internals, shared by its files (agent.h is the API). */
#ifndef VSB_CVMI_AGENT_PRIV_H
#define VSB_CVMI_AGENT_PRIV_H

#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "agent.h"

struct vmi_mem;
struct vmi_linux;

/* One instance's guest, opened on first use and kept open; the lock
 * serialises operations (a vmi handle is for one thread at a time). */
struct agent_vm {
	pthread_mutex_t lock;
	struct vmi_mem *mem;
	struct vmi_linux *lx;
	struct timespec alive_at;	/* last QMP liveness check (QEMU) */
};

struct agent_instance {
	struct agent_instance_conf conf;
	struct agent_vm vm;
};

struct agent_tenant {
	char name[CVMI_NAME_MAX + 1];
	uint8_t pk[CVMI_KEY_BYTES];
};

struct agent {
	struct cvmi_keypair key;
	struct agent_tenant *tenants;	/* sorted by name */
	size_t ntenants;
	struct agent_instance *inst;	/* sorted by name */
	size_t ninst;
	struct cvmi_replay *replay;
	int max_skew;
};

const struct agent_tenant *agent_find_tenant(const struct agent *a,
					     const char *name);
struct agent_instance *agent_find_instance(struct agent *a,
					   const char *name);

void agent_vm_init(struct agent_vm *v);
void agent_vm_close(struct agent_vm *v);
/* Runs op (a protocol operation) with args on src's guest: 0 with
 * *result (a new reference, the same JSON as `vmi --json`), or -errno
 * with the reason, for the tenant, in err (one printable line). */
int agent_vm_run(struct agent_vm *v, const struct agent_source *src,
		 const char *op, json_t *args, json_t **result, char *err,
		 size_t errlen);

#endif
