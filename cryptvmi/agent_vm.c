/* One instance's guest for the agent: opened on first use, kept open
 * (opening a Linux guest scans its RAM: about 0.1 s), dropped after an
 * error that may mean it went away or restarted, so the next request
 * opens it again. Operations give the same JSON as `vmi --json`
 * (vmi/vmi_json.h). */
#include "agent_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../vmi/linux.h"
#include "../vmi/mem_elfcore.h"
#include "../vmi/mem_file.h"
#include "../vmi/mem_qemu.h"
#include "../vmi/mem_vsbd.h"
#include "../vmi/qmp.h"
#include "../vmi/vmi_err.h"
#include "../vmi/vmi_json.h"

/* PROTOCOL.md: a read is 1 byte to 1 MiB; vCPUs 0 to 8191. */
#define READ_MAX (1u << 20)
#define VCPU_MAX 8191

void agent_vm_init(struct agent_vm *v)
{
	pthread_mutex_init(&v->lock, NULL);
	v->mem = NULL;
	v->lx = NULL;
}

static void drop_linux(struct agent_vm *v)
{
	vmi_linux_close(v->lx);
	v->lx = NULL;
}

static void drop_all(struct agent_vm *v)
{
	drop_linux(v);
	if (v->mem)
		vmi_mem_close(v->mem);
	v->mem = NULL;
}

void agent_vm_close(struct agent_vm *v)
{
	drop_all(v);
	pthread_mutex_destroy(&v->lock);
}

/* A QEMU guest whose QMP connection broke (QEMU restarted, or the
 * connection is out of step) must be opened again. */
static bool qemu_alive(struct vmi_mem *m)
{
	struct qmp *q = vmi_mem_qemu_qmp(m);
	char err[256];
	bool running;

	return !q || qmp_query_status(q, &running, NULL, 0, err,
				      sizeof(err)) == 0;
}

/* A QMP round trip on every query would cost more than a ps walk (and
 * serialise queries on QEMU's monitor): check at most once a second.
 * Operations that use QMP (regs, pause, resume) reopen on failure anyway. */
static bool check_due(struct agent_vm *v)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	if (t.tv_sec - v->alive_at.tv_sec < 1 &&
	    (v->alive_at.tv_sec || v->alive_at.tv_nsec))
		return false;
	v->alive_at = t;
	return true;
}

static int ensure_mem(struct agent_vm *v, const struct agent_source *s,
		      char *err, size_t errlen)
{
	char msg[400];
	int r;

	if (v->mem && s->kind == AGENT_SRC_QEMU && check_due(v) &&
	    !qemu_alive(v->mem))
		drop_all(v);
	if (v->mem)
		return 0;
	switch (s->kind) {
	case AGENT_SRC_VSBD:
		r = vmi_mem_vsbd_open(s->path, false, &v->mem, msg,
				      sizeof(msg));
		break;
	case AGENT_SRC_QEMU:
		r = vmi_mem_qemu_open(s->path, s->qmp, false, &v->mem, msg,
				      sizeof(msg));
		break;
	case AGENT_SRC_CORE:
		r = vmi_mem_elfcore_open(s->path, &v->mem, msg, sizeof(msg));
		break;
	default:
		r = vmi_mem_ram_open(s->path, s->machine, false, &v->mem, msg,
				     sizeof(msg));
		break;
	}
	if (r < 0) {
		v->mem = NULL;
		return vmi_err(err, errlen, r, "cannot open the guest: %s",
			       msg);
	}
	return 0;
}

static int ensure_linux(struct agent_vm *v, char *err, size_t errlen)
{
	struct vmi_linux_opts o = { 0 };
	char msg[400];
	int r;

	if (v->lx)
		return 0;
	r = vmi_linux_open(v->mem, &o, &v->lx, msg, sizeof(msg));
	if (r < 0) {
		v->lx = NULL;
		/* Perhaps it is still booting, or the backend broke: start
		 * again from the memory next time. */
		drop_all(v);
		return vmi_err(err, errlen, r, "cannot find the guest's Linux "
			       "kernel: %s", msg);
	}
	return 0;
}

static int no_args(const json_t *args, const char *op, char *err,
		   size_t errlen)
{
	if (args && (!json_is_object(args) || json_object_size(args)))
		return vmi_err(err, errlen, -EINVAL, "%s takes no arguments",
			       op);
	return 0;
}

/* Every key of args is one of keys (NULL-terminated). */
static int only_keys(const json_t *args, const char *const *keys,
		     const char *op, char *err, size_t errlen)
{
	const char *k;
	json_t *val;

	if (args && !json_is_object(args))
		return vmi_err(err, errlen, -EINVAL, "%s: args must be an "
			       "object", op);
	json_object_foreach((json_t *)args, k, val) {
		size_t i = 0;
		(void)val;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i])
			return vmi_err(err, errlen, -EINVAL, "%s: unknown "
				       "argument", op);
	}
	return 0;
}

/* "0x" and 1 to 16 hex digits. */
static bool parse_hex_addr(const char *s, uint64_t *v)
{
	size_t n;

	if (strncmp(s, "0x", 2))
		return false;
	s += 2;
	n = strlen(s);
	if (n == 0 || n > 16 || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	*v = strtoull(s, NULL, 16);
	return true;
}

static bool int_in(const json_t *j, json_int_t lo, json_int_t hi,
		   json_int_t *v)
{
	if (!json_is_integer(j))
		return false;
	*v = json_integer_value(j);
	return *v >= lo && *v <= hi;
}

static int op_read(struct agent_vm *v, const json_t *args, json_t **res,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "addr", "len", "pid", "phys",
					    NULL };
	json_t *ja = json_object_get(args, "addr");
	json_t *jp = json_object_get(args, "pid");
	json_t *jf = json_object_get(args, "phys");
	json_int_t len, pid = -1;
	uint64_t addr;
	bool phys;
	uint8_t *buf;
	ssize_t n;
	int r;

	if ((r = only_keys(args, keys, "read", err, errlen)) < 0)
		return r;
	if (!json_is_string(ja) || !parse_hex_addr(json_string_value(ja),
						    &addr))
		return vmi_err(err, errlen, -EINVAL, "read: addr is \"0x\" "
			       "and 1 to 16 hex digits");
	if (!int_in(json_object_get(args, "len"), 1, READ_MAX, &len))
		return vmi_err(err, errlen, -EINVAL, "read: len is 1 to %u",
			       READ_MAX);
	if (jp && !int_in(jp, 0, INT32_MAX, &pid))
		return vmi_err(err, errlen, -EINVAL, "read: pid is 0 to %d",
			       INT32_MAX);
	if (jf && !json_is_boolean(jf))
		return vmi_err(err, errlen, -EINVAL, "read: phys is true or "
			       "false");
	phys = json_is_true(jf);
	if (phys && jp)
		return vmi_err(err, errlen, -EINVAL, "read: phys and pid "
			       "exclude each other");
	if (!phys && (r = ensure_linux(v, err, errlen)) < 0)
		return r;
	buf = malloc((size_t)len);
	if (!buf)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	if (phys) {
		n = vmi_read_pa(v->mem, addr, buf, (size_t)len);
		if (n < 0)
			vmi_err(err, errlen, (int)n, "physical address 0x%"
				PRIx64 " is not guest RAM", addr);
	} else {
		n = vmi_linux_read_va(v->lx, (int32_t)pid, addr, buf,
				      (size_t)len, err, errlen);
	}
	/* A read that stops at an unmapped page gives the bytes before it
	 * ("len" says how many); one that starts there fails. */
	if (n >= 0) {
		*res = vmi_json_read(addr, buf, (size_t)n);
		if (!*res)
			n = vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	free(buf);
	return n < 0 ? (int)n : 0;
}

static int op_regs(struct agent_vm *v, const json_t *args, json_t **res,
		   char *err, size_t errlen)
{
	static const char *const keys[] = { "vcpu", NULL };
	json_t *jv = json_object_get(args, "vcpu");
	json_int_t vcpu = 0;
	struct vmi_regs regs;
	int r;

	if ((r = only_keys(args, keys, "regs", err, errlen)) < 0)
		return r;
	if (jv && !int_in(jv, 0, VCPU_MAX, &vcpu))
		return vmi_err(err, errlen, -EINVAL, "regs: vcpu is 0 to %d",
			       VCPU_MAX);
	r = vmi_mem_get_regs(v->mem, (unsigned)vcpu, &regs);
	if (r == -ENOSYS)
		return vmi_err(err, errlen, r, "this source has no registers");
	if (r == -EINVAL)
		return vmi_err(err, errlen, r, "no such vCPU");
	if (r < 0) {
		drop_all(v);
		return vmi_err(err, errlen, r, "regs: %s", strerror(-r));
	}
	*res = vmi_json_regs((unsigned)vcpu, &regs);
	return *res ? 0 : vmi_err(err, errlen, -ENOMEM, "out of memory");
}

static int op_lifecycle(struct agent_vm *v, bool pause, json_t **res,
			char *err, size_t errlen)
{
	int r = pause ? vmi_mem_pause(v->mem) : vmi_mem_resume(v->mem);

	if (r == -ENOSYS)
		return vmi_err(err, errlen, r, "this source is not a live "
			       "guest");
	if (r < 0) {
		drop_all(v);
		return vmi_err(err, errlen, r, "%s: %s", pause ? "pause" :
			       "resume", strerror(-r));
	}
	if (!pause && v->lx)
		vmi_linux_invalidate(v->lx);
	*res = vmi_json_state(pause);
	return *res ? 0 : vmi_err(err, errlen, -ENOMEM, "out of memory");
}

static int op_info(struct agent_vm *v, json_t **res, char *err,
		   size_t errlen)
{
	char banner[512];
	int r = vmi_linux_banner(v->lx, banner, sizeof(banner), err, errlen);

	if (r < 0)
		return r;
	*res = vmi_json_info(vmi_linux_info(v->lx), vmi_linux_layout(v->lx),
			     banner, vmi_mem_name(v->mem));
	return *res ? 0 : vmi_err(err, errlen, -ENOMEM, "out of memory");
}

static int op_ps(struct agent_vm *v, json_t **res, char *err, size_t errlen)
{
	struct vmi_linux_task *t;
	size_t n;
	int r = vmi_linux_tasks(v->lx, &t, &n, err, errlen);

	if (r < 0)
		return r;
	*res = vmi_json_tasks(t, n);
	free(t);
	return *res ? 0 : vmi_err(err, errlen, -ENOMEM, "out of memory");
}

static int op_lsmod(struct agent_vm *v, json_t **res, char *err,
		    size_t errlen)
{
	struct vmi_linux_module *m;
	size_t n;
	int r = vmi_linux_modules(v->lx, &m, &n, err, errlen);

	if (r < 0)
		return r;
	*res = vmi_json_modules(m, n);
	free(m);
	return *res ? 0 : vmi_err(err, errlen, -ENOMEM, "out of memory");
}

/* info, ps, lsmod: the Linux layer; a failure may mean the guest
 * rebooted (another KASLR offset), so its kernel is found again next
 * time. */
static int op_linux(struct agent_vm *v, const char *op, const json_t *args,
		    json_t **res, char *err, size_t errlen)
{
	int r;

	if ((r = no_args(args, op, err, errlen)) < 0 ||
	    (r = ensure_linux(v, err, errlen)) < 0)
		return r;
	if (!strcmp(op, "info"))
		r = op_info(v, res, err, errlen);
	else if (!strcmp(op, "ps"))
		r = op_ps(v, res, err, errlen);
	else
		r = op_lsmod(v, res, err, errlen);
	if (r < 0 && r != -ENOMEM)
		drop_linux(v);
	return r;
}

static int run_locked(struct agent_vm *v, const struct agent_source *src,
		      const char *op, const json_t *args, json_t **res,
		      char *err, size_t errlen)
{
	int r;

	if (strcmp(op, "info") && strcmp(op, "ps") && strcmp(op, "lsmod") &&
	    strcmp(op, "read") && strcmp(op, "regs") && strcmp(op, "pause") &&
	    strcmp(op, "resume"))
		return vmi_err(err, errlen, -EINVAL, "unknown operation");
	if ((r = ensure_mem(v, src, err, errlen)) < 0)
		return r;
	if (!strcmp(op, "read"))
		return op_read(v, args, res, err, errlen);
	if (!strcmp(op, "regs"))
		return op_regs(v, args, res, err, errlen);
	if (!strcmp(op, "pause") || !strcmp(op, "resume")) {
		if ((r = no_args(args, op, err, errlen)) < 0)
			return r;
		return op_lifecycle(v, op[0] == 'p', res, err, errlen);
	}
	return op_linux(v, op, args, res, err, errlen);
}

int agent_vm_run(struct agent_vm *v, const struct agent_source *src,
		 const char *op, json_t *args, json_t **result, char *err,
		 size_t errlen)
{
	char msg[512];
	int r;

	*result = NULL;
	msg[0] = '\0';
	pthread_mutex_lock(&v->lock);
	r = run_locked(v, src, op, args, result, msg, sizeof(msg));
	pthread_mutex_unlock(&v->lock);
	if (r < 0) {
		json_decref(*result);
		*result = NULL;
		/* The message quotes guest and backend text: one printable
		 * line, valid UTF-8 for JSON. */
		vmi_sanitize(msg[0] ? msg : "failed", err, errlen);
	}
	return r < 0 ? r : 0;
}
