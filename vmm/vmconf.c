/* VM definition files: see vmconf.h. The parser is strict (unknown keys,
 * duplicate keys, stray bytes and over-long files are errors), because a
 * silently ignored line in a VM definition is a security setting lost. */
#include "vmconf.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct key {
	const char *name;
	bool path; /* relative values are relative to the file's directory */
};

/* The vsbd run options a file may set; "config" itself may not nest. */
static const struct key keys[] = {
	{ "name", false },	   { "kernel", true },
	{ "initrd", true },	   { "append", false },
	{ "memory", false },	   { "cpus", false },
	{ "console", false },	   { "escape", false },
	{ "control", true },	   { "allow-pvm", false },
	{ "ssh", false },	   { "authorized-keys", true },
	{ "host-keys", true },	   { "fb", false },
	{ "vnc-listen", false },	   { "operator", true },
	{ "operator-user", false }, { "routing", false },
	{ "operator-timeout", false },
};

/* Every key can appear once, so the argument list is bounded. */
_Static_assert(sizeof(keys) / sizeof(keys[0]) <= VMCONF_MAX_ENTRIES,
	       "too many keys");

static const struct key *find_key(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strlen(keys[i].name) == n && !memcmp(keys[i].name, s, n))
			return &keys[i];
	return NULL;
}

static int fail(char *err, size_t errlen, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "line %u: ", line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *skip_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static char *make_value(const struct key *k, const char *v, size_t n,
			const char *dir)
{
	char *s;
	int r;

	if (k->path && n && v[0] != '/' && dir && dir[0])
		r = asprintf(&s, "%s/%.*s", dir, (int)n, v);
	else
		r = asprintf(&s, "%.*s", (int)n, v);
	return r < 0 ? NULL : s;
}

static int add_entry(struct vmconf *c, const struct key *k, char *value)
{
	if (!strcmp(k->name, "kernel")) {
		c->kernel = value;
		return 0;
	}
	char *arg;
	/* Flags take no value: "allow-pvm = yes" turns them on. */
	int r = !strcmp(k->name, "allow-pvm")
			? asprintf(&arg, "--%s", k->name)
			: asprintf(&arg, "--%s=%s", k->name, value);
	free(value);
	if (r < 0)
		return -ENOMEM;
	c->args[c->nargs++] = arg;
	return 0;
}

int vmconf_parse(const char *text, size_t len, const char *dir,
		 struct vmconf *out, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	bool seen[sizeof(keys) / sizeof(keys[0])] = { false };
	unsigned line = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (len > VMCONF_MAX_BYTES)
		return fail(err, errlen, 0, "file larger than %d bytes",
			    VMCONF_MAX_BYTES);
	out->args = calloc(VMCONF_MAX_ENTRIES, sizeof(char *));
	if (!out->args)
		return -ENOMEM;
	while (p < end && ret == 0) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		const char *s = skip_blank(p, eol);
		const char *next = eol < end ? eol + 1 : end;
		const char *e = eol;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		p = next;
		if (s == e || *s == '#')
			continue;
		const char *q = s;
		while (q < e && ((unsigned char)*q >= 0x20 || *q == '\t'))
			q++;
		if (q < e) {
			ret = fail(err, errlen, line, "control character");
			break;
		}
		const char *ks = s;
		while (s < e && (isalnum((unsigned char)*s) || *s == '-'))
			s++;
		size_t klen = (size_t)(s - ks);
		const struct key *k = find_key(ks, klen);
		if (!k) {
			ret = fail(err, errlen, line, "unknown key '%.*s'",
				   (int)(klen > 40 ? 40 : klen), ks);
			break;
		}
		s = skip_blank(s, e);
		if (s == e || *s != '=') {
			ret = fail(err, errlen, line, "expected '=' after %s",
				   k->name);
			break;
		}
		s = skip_blank(s + 1, e);
		size_t idx = (size_t)(k - keys);
		if (seen[idx]) {
			ret = fail(err, errlen, line, "%s given twice", k->name);
			break;
		}
		seen[idx] = true;
		if (s == e && strcmp(k->name, "append")) {
			ret = fail(err, errlen, line, "%s needs a value",
				   k->name);
			break;
		}
		char *value = make_value(k, s, (size_t)(e - s), dir);
		if (!value || add_entry(out, k, value)) {
			ret = -ENOMEM;
			break;
		}
	}
	if (ret)
		vmconf_free(out);
	return ret;
}

int vmconf_load(const char *path, struct vmconf *out)
{
	char buf[VMCONF_MAX_BYTES + 1], err[160];
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return log_errno(-errno, "cannot open VM definition %s", path);
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			return log_errno(e, "cannot read %s", path);
		}
		if (n == 0 || (len += (size_t)n) == sizeof(buf))
			break;
	}
	close(fd);
	char *dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int ret = vmconf_parse(buf, len, dir, out, err, sizeof(err));
	free(dir);
	if (ret == -EINVAL)
		log_error("%s: %s", path, err);
	return ret;
}

bool vmconf_valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VM_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

void vmconf_free(struct vmconf *c)
{
	for (size_t i = 0; i < c->nargs; i++)
		free(c->args[i]);
	free(c->args);
	free(c->kernel);
	memset(c, 0, sizeof(*c));
}
