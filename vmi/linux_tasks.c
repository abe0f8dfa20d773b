/* The process list: init_task's `tasks` ring (thread-group leaders, as
 * for_each_process walks it), each task's fields read at the offsets BTF
 * gave. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "linux_priv.h"
#include "vmi_err.h"

struct task_acc {
	struct vmi_linux_task *v;
	size_t n, cap;
	int32_t want_pid;	/* >= 0: stop at this tgid */
	uint64_t found;
	char *err;
	size_t errlen;
};

/* The part of task_struct we read: up to the last field we need. */
static uint32_t task_span(const struct vmi_linux_layout *ly)
{
	uint32_t end = 0, f[][2] = {
		{ ly->task.pid, 4 }, { ly->task.tgid, 4 },
		{ ly->task.comm, ly->task.comm_size },
		{ ly->task.mm, 8 }, { ly->task.real_parent, 8 },
		{ ly->task.cred, 8 }, { ly->task.state, ly->task.state_size },
		{ ly->task.flags, 4 },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i][0] + f[i][1] > end)
			end = f[i][0] + f[i][1];
	return end;
}

static int read_task(struct vmi_linux *l, uint64_t addr,
		     struct vmi_linux_task *t, char *err, size_t errlen)
{
	const struct vmi_linux_layout *ly = &l->layout;
	uint32_t span = task_span(ly);
	uint8_t *b;
	uint64_t parent, cred, mm, pgd;
	uint8_t u[4];
	int r;

	/* BTF comes from the guest: a crafted one must not make us read
	 * megabytes per task. */
	if (span > (1u << 16))
		return vmi_err(err, errlen, -EINVAL, "task_struct fields "
			       "beyond 64 KiB: implausible BTF");
	b = malloc(span);
	if (!b)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	r = linux_kread(l, addr, b, span, "task list", err, errlen);
	if (r < 0)
		goto out;
	memset(t, 0, sizeof(*t));
	t->addr = addr;
	t->pid = (int32_t)linux_field(b, ly->task.pid, 4);
	t->tgid = (int32_t)linux_field(b, ly->task.tgid, 4);
	t->state = (uint32_t)linux_field(b, ly->task.state,
					 ly->task.state_size > 4 ? 4 :
					 ly->task.state_size);
	t->flags = (uint32_t)linux_field(b, ly->task.flags, 4);
	size_t cn = ly->task.comm_size < sizeof(t->comm) - 1 ?
		    ly->task.comm_size : sizeof(t->comm) - 1;
	memcpy(t->comm, b + ly->task.comm, cn);
	t->comm[cn] = '\0';
	parent = linux_field(b, ly->task.real_parent, 8);
	cred = linux_field(b, ly->task.cred, 8);
	mm = linux_field(b, ly->task.mm, 8);
	if (parent == addr || parent == 0) {
		t->ppid = 0;
	} else {
		r = linux_kread(l, parent + ly->task.tgid, u, 4,
				"task's parent", err, errlen);
		if (r < 0)
			goto out;
		t->ppid = (int32_t)linux_field(u, 0, 4);
	}
	if (cred) {
		r = linux_kread(l, cred + ly->cred.uid, u, 4, "task's cred",
				err, errlen);
		if (r < 0)
			goto out;
		t->uid = (uint32_t)linux_field(u, 0, 4);
	}
	t->kthread = mm == 0 || (t->flags & LINUX_PF_KTHREAD);
	if (mm && !(t->flags & LINUX_PF_KTHREAD)) {
		r = linux_kread_u64(l, mm + ly->mm.pgd, &pgd, "task's mm",
				    err, errlen);
		/* A pgd pointing nowhere is a broken task like any other
		 * dangling pointer: -EFAULT, whatever the walk said. */
		if (r == 0 &&
		    vmi_linux_kva_to_pa(l, pgd, &t->pgd, err, errlen) < 0)
			r = -EFAULT;
	}
out:
	free(b);
	return r;
}

static int add_task(struct vmi_linux *l, uint64_t addr, struct task_acc *a)
{
	struct vmi_linux_task t;
	int r = read_task(l, addr, &t, a->err, a->errlen);

	if (r < 0)
		return r;
	if (a->want_pid >= 0) {
		if (t.tgid != a->want_pid)
			return 0;
		a->found = t.kthread ? 1 : t.pgd;
		return 1;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct vmi_linux_task *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return vmi_err(a->err, a->errlen, -ENOMEM,
				       "out of memory");
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = t;
	return 0;
}

static int task_node(struct vmi_linux *l, uint64_t node, void *arg)
{
	return add_task(l, node - l->layout.task.tasks, arg);
}

static int walk_tasks(struct vmi_linux *l, struct task_acc *a)
{
	int r;

	if (vmi_mem_is_live(l->mem))
		vmi_x86_invalidate(&l->pt);
	r = add_task(l, l->init_task, a);
	if (r != 0)
		return r;
	return linux_list_walk(l, l->init_task + l->layout.task.tasks,
			       VMI_LINUX_MAX_TASKS, "task list", task_node,
			       a, a->err, a->errlen);
}

int vmi_linux_tasks(struct vmi_linux *l, struct vmi_linux_task **out,
		    size_t *n, char *err, size_t errlen)
{
	struct task_acc a = { .want_pid = -1, .err = err, .errlen = errlen };
	int r = walk_tasks(l, &a);

	if (r < 0) {
		free(a.v);
		*out = NULL;
		*n = 0;
		return r;
	}
	*out = a.v;
	*n = a.n;
	return 0;
}

int vmi_linux_pid_root(struct vmi_linux *l, int32_t pid, uint64_t *root,
		       char *err, size_t errlen)
{
	struct task_acc a = { .want_pid = pid, .err = err, .errlen = errlen };
	int r;

	if (pid < 0)
		return vmi_err(err, errlen, -EINVAL, "pid %d", pid);
	r = walk_tasks(l, &a);
	if (r < 0)
		return r;
	if (r == 0)
		return vmi_err(err, errlen, -ESRCH, "no process %d in the "
			       "guest", pid);
	if (a.found == 1)
		return vmi_err(err, errlen, -EINVAL, "process %d is a kernel "
			       "thread: it has no user memory", pid);
	*root = a.found;
	return 0;
}

const char *vmi_linux_state_name(uint32_t state)
{
	/* TASK_* of include/linux/sched.h, as /proc's letters name them. */
	if (state == 0)
		return "R";
	if ((state & 0x402) == 0x402)
		return "I";	/* TASK_IDLE */
	if (state & 0x1)
		return "S";
	if (state & 0x2)
		return "D";
	if (state & 0x4)
		return "T";
	if (state & 0x8)
		return "t";
	if (state & 0x20)
		return "Z";
	if (state & (0x10 | 0x80))
		return "X";
	return "?";
}
