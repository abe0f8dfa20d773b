/* Loading the agent's state directory: its key pair, the enrolled
 * tenants' public keys, the instances file. Read once at start; the
 * tables are then read-only, so request threads share them unlocked. */
#include "agent_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "../vmi/vmi_err.h"

static int cmp_tenant(const void *a, const void *b)
{
	return strcmp(((const struct agent_tenant *)a)->name,
		      ((const struct agent_tenant *)b)->name);
}

static int cmp_instance(const void *a, const void *b)
{
	return strcmp(((const struct agent_instance *)a)->conf.name,
		      ((const struct agent_instance *)b)->conf.name);
}

const struct agent_tenant *agent_find_tenant(const struct agent *a,
					     const char *name)
{
	struct agent_tenant key;

	if (!a->ntenants || !cvmi_valid_name(name))
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, a->tenants, a->ntenants, sizeof(key),
		       cmp_tenant);
}

struct agent_instance *agent_find_instance(struct agent *a, const char *name)
{
	struct agent_instance key;

	if (!a->ninst || !cvmi_valid_name(name))
		return NULL;
	snprintf(key.conf.name, sizeof(key.conf.name), "%s", name);
	return bsearch(&key, a->inst, a->ninst, sizeof(key), cmp_instance);
}

size_t agent_nr_instances(const struct agent *a)
{
	return a->ninst;
}

size_t agent_nr_tenants(const struct agent *a)
{
	return a->ntenants;
}

/* tenants/NAME.pub, each NAME valid; other files are refused rather than
 * ignored, so a typo is not silently a missing tenant. */
static int load_tenants(struct agent *a, const char *dir, char *err,
			size_t errlen)
{
	char tdir[PATH_MAX], path[PATH_MAX], msg[256];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (agent_path(tdir, sizeof(tdir), dir, "tenants") < 0)
		return vmi_err(err, errlen, -ENAMETOOLONG, "%s: path too long",
			       dir);
	d = opendir(tdir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return vmi_err(err, errlen, -errno, "%s: %s", tdir,
			       strerror(errno));
	}
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		char name[CVMI_NAME_MAX + 1];

		if (de->d_name[0] == '.')
			continue;
		if (nl < 5 || nl - 4 > CVMI_NAME_MAX ||
		    strcmp(de->d_name + nl - 4, ".pub")) {
			r = vmi_err(err, errlen, -EINVAL, "%s: only NAME.pub "
				    "files belong there", tdir);
			break;
		}
		memcpy(name, de->d_name, nl - 4);
		name[nl - 4] = '\0';
		if (!cvmi_valid_name(name)) {
			r = vmi_err(err, errlen, -EINVAL, "%s: a file whose "
				    "name is not a tenant name", tdir);
			break;
		}
		if (a->ntenants == AGENT_MAX_TENANTS) {
			r = vmi_err(err, errlen, -E2BIG, "%s: over %d tenants",
				    tdir, AGENT_MAX_TENANTS);
			break;
		}
		if (a->ntenants % 16 == 0) {
			void *nt = realloc(a->tenants, (a->ntenants + 16) *
					   sizeof(*a->tenants));
			if (!nt) {
				r = vmi_err(err, errlen, -ENOMEM, "out of "
					    "memory");
				break;
			}
			a->tenants = nt;
		}
		struct agent_tenant *t = &a->tenants[a->ntenants];
		snprintf(t->name, sizeof(t->name), "%s", name);
		if (agent_path(path, sizeof(path), tdir, de->d_name) < 0) {
			r = vmi_err(err, errlen, -ENAMETOOLONG, "%s: path too "
				    "long", tdir);
			break;
		}
		r = cvmi_key_load_public(path, t->pk, msg, sizeof(msg));
		if (r < 0) {
			vmi_err(err, errlen, r, "tenant %s: %s", name, msg);
			break;
		}
		a->ntenants++;
	}
	closedir(d);
	if (r == 0)
		qsort(a->tenants, a->ntenants, sizeof(*a->tenants),
		      cmp_tenant);
	return r;
}

/* The whole of a regular file of at most max bytes, NUL-terminated;
 * -ENOENT when absent. */
static int read_small(const char *path, size_t max, char **out, size_t *len,
		      char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return vmi_err(err, errlen, -errno, "%s: %s", path,
			       strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > max) {
		close(fd);
		return vmi_err(err, errlen, -EINVAL, "%s: not a regular file "
			       "of at most %zu bytes", path, max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	n = read(fd, buf, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0 || n > st.st_size) {
		free(buf);
		return vmi_err(err, errlen, -EIO, "%s: changed while read",
			       path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int load_instances(struct agent *a, const char *dir, char *err,
			  size_t errlen)
{
	struct agent_instance_conf *c;
	char path[PATH_MAX], msg[300];
	size_t len = 0, n;
	char *text = NULL;
	int r;

	if (agent_path(path, sizeof(path), dir, "instances") < 0)
		return vmi_err(err, errlen, -ENAMETOOLONG, "%s: path too long",
			       dir);
	r = read_small(path, AGENT_INSTANCES_FILE_MAX, &text, &len, err,
		       errlen);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = agent_instances_parse(text, len, &c, &n, msg, sizeof(msg));
	free(text);
	if (r < 0)
		return vmi_err(err, errlen, r, "%s: %s", path, msg);
	a->inst = calloc(n ? n : 1, sizeof(*a->inst));
	if (!a->inst) {
		free(c);
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (!agent_find_tenant(a, c[i].tenant)) {
			r = vmi_err(err, errlen, -ENOENT, "%s: instance %s: "
				    "tenant %s is not enrolled "
				    "(enroll-tenant)", path, c[i].name,
				    c[i].tenant);
			break;
		}
		a->inst[i].conf = c[i];
		agent_vm_init(&a->inst[i].vm);
		a->ninst++;
	}
	free(c);
	if (r == 0)
		qsort(a->inst, a->ninst, sizeof(*a->inst), cmp_instance);
	return r;
}

int agent_load(const char *dir, int max_skew, struct agent **out, char *err,
	       size_t errlen)
{
	char path[PATH_MAX], msg[256];
	struct agent *a;
	int r;

	*out = NULL;
	if (max_skew < 1 || max_skew > 3600)
		return vmi_err(err, errlen, -EINVAL, "max skew %d: 1 to 3600 "
			       "seconds", max_skew);
	a = calloc(1, sizeof(*a));
	if (!a)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	a->max_skew = max_skew;
	if (agent_path(path, sizeof(path), dir, "agent.key") < 0) {
		r = vmi_err(err, errlen, -ENAMETOOLONG, "%s: path too long",
			    dir);
		goto fail;
	}
	r = cvmi_key_load_secret(path, &a->key, msg, sizeof(msg));
	if (r < 0) {
		vmi_err(err, errlen, r, "%s (run keygen first?)", msg);
		goto fail;
	}
	if ((r = load_tenants(a, dir, err, errlen)) < 0 ||
	    (r = load_instances(a, dir, err, errlen)) < 0)
		goto fail;
	a->replay = cvmi_replay_new(time(NULL), max_skew, AGENT_REPLAY_MAX);
	if (!a->replay) {
		r = vmi_err(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	agent_free(a);
	return r;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->ninst; i++)
		agent_vm_close(&a->inst[i].vm);
	free(a->inst);
	free(a->tenants);
	if (a->replay)
		cvmi_replay_free(a->replay);
	sodium_memzero(&a->key, sizeof(a->key));
	free(a);
}
