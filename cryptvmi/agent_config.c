/* The agent's instances file and SOURCE strings, parsed strictly: the
 * file decides which tenant may look into which VM. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmi/vmi_err.h"

int agent_path(char *buf, size_t len, const char *dir, const char *file)
{
	int n = snprintf(buf, len, "%s/%s", dir, file);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* An absolute path of printable ASCII without spaces or ':' (the
 * separator), copied into out. */
static bool take_path(const char *s, size_t n, char out[PATH_MAX])
{
	if (n < 2 || n >= PATH_MAX || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == ':')
			return false;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

int agent_source_parse(const char *s, struct agent_source *out, char *err,
		       size_t errlen)
{
	const char *colon;

	memset(out, 0, sizeof(*out));
	if (!strncmp(s, "vsbd:", 5) || !strncmp(s, "core:", 5)) {
		out->kind = s[0] == 'v' ? AGENT_SRC_VSBD : AGENT_SRC_CORE;
		if (!take_path(s + 5, strlen(s + 5), out->path))
			goto bad_path;
		return 0;
	}
	if (!strncmp(s, "qemu:", 5)) {
		out->kind = AGENT_SRC_QEMU;
		s += 5;
		colon = strchr(s, ':');
		if (!colon || !take_path(s, (size_t)(colon - s), out->path) ||
		    !take_path(colon + 1, strlen(colon + 1), out->qmp))
			return vmi_err(err, errlen, -EINVAL, "qemu source: "
				       "qemu:/RAM/FILE:/QMP/SOCKET (absolute "
				       "paths without ':' or spaces)");
		return 0;
	}
	if (!strncmp(s, "ram:", 4)) {
		out->kind = AGENT_SRC_RAM;
		s += 4;
		colon = strrchr(s, ':');
		if (!colon || !take_path(s, (size_t)(colon - s), out->path))
			return vmi_err(err, errlen, -EINVAL, "ram source: "
				       "ram:/RAM/FILE:pc|q35|vsbd");
		if (vmi_ram_layout_parse(colon + 1, &out->machine) < 0)
			return vmi_err(err, errlen, -EINVAL, "ram source: "
				       "the machine is pc, q35 or vsbd");
		return 0;
	}
	return vmi_err(err, errlen, -EINVAL, "source: vsbd:/CONTROL/SOCKET, "
		       "qemu:/RAM/FILE:/QMP/SOCKET, core:/CORE/FILE or "
		       "ram:/RAM/FILE:MACHINE");
bad_path:
	return vmi_err(err, errlen, -EINVAL, "source: an absolute path "
		       "without ':' or spaces");
}

/* Splits line (NUL-terminated, modified) at runs of spaces and tabs;
 * returns the number of fields, at most max + 1 (too many). */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		f[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	return n;
}

static int parse_line(char *line, unsigned lineno,
		      struct agent_instance_conf *c, char *err, size_t errlen)
{
	char *f[4], msg[256];
	size_t n = split(line, f, 4);
	int r;

	if (n != 4)
		return vmi_err(err, errlen, -EINVAL, "line %u: %s fields: "
			       "INSTANCE TENANT VM SOURCE", lineno,
			       n < 4 ? "too few" : "too many");
	const char *what[3] = { "instance", "tenant", "VM" };
	char *dst[3] = { c->name, c->tenant, c->vm };
	for (int i = 0; i < 3; i++) {
		if (!cvmi_valid_name(f[i]))
			return vmi_err(err, errlen, -EINVAL, "line %u: bad %s "
				       "name (letters, digits, '.', '_', '-'; "
				       "at most %d)", lineno, what[i],
				       CVMI_NAME_MAX);
		snprintf(dst[i], CVMI_NAME_MAX + 1, "%s", f[i]);
	}
	r = agent_source_parse(f[3], &c->src, msg, sizeof(msg));
	if (r < 0)
		return vmi_err(err, errlen, r, "line %u: %s", lineno, msg);
	return 0;
}

int agent_instances_parse(const char *text, size_t len,
			  struct agent_instance_conf **out, size_t *n,
			  char *err, size_t errlen)
{
	struct agent_instance_conf *v = NULL;
	char line[AGENT_LINE_MAX + 1];
	size_t cnt = 0, pos = 0;
	unsigned lineno = 0;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (len > AGENT_INSTANCES_FILE_MAX)
		return vmi_err(err, errlen, -E2BIG, "over %u bytes",
			       AGENT_INSTANCES_FILE_MAX);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (ll > AGENT_LINE_MAX) {
			r = vmi_err(err, errlen, -EINVAL, "line %u: over %d "
				    "bytes", lineno, AGENT_LINE_MAX);
			goto fail;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;
		for (size_t i = 0; i < ll; i++) {
			unsigned char ch = (unsigned char)line[i];
			if ((ch < 0x20 && ch != '\t') || ch >= 0x7f) {
				r = vmi_err(err, errlen, -EINVAL, "line %u: a "
					    "byte that is not printable ASCII "
					    "(0x%02x)", lineno, ch);
				goto fail;
			}
		}
		size_t skip = strspn(line, " \t");
		if (!line[skip] || line[skip] == '#')
			continue;
		if (cnt == AGENT_MAX_INSTANCES) {
			r = vmi_err(err, errlen, -E2BIG, "line %u: over %d "
				    "instances", lineno, AGENT_MAX_INSTANCES);
			goto fail;
		}
		if (cnt % 16 == 0) {
			void *nv = realloc(v, (cnt + 16) * sizeof(*v));
			if (!nv) {
				r = vmi_err(err, errlen, -ENOMEM, "out of "
					    "memory");
				goto fail;
			}
			v = nv;
		}
		r = parse_line(line, lineno, &v[cnt], err, errlen);
		if (r < 0)
			goto fail;
		for (size_t i = 0; i < cnt; i++) {
			if (!strcmp(v[i].name, v[cnt].name)) {
				r = vmi_err(err, errlen, -EINVAL, "line %u: "
					    "instance %s is already on a line "
					    "above", lineno, v[cnt].name);
				goto fail;
			}
		}
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
fail:
	free(v);
	return r;
}
