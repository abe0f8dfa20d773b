/* The tenant's configuration: small strict text files, secrets 0600. */
#include "cli_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmi/vmi_err.h"

int cli_config_dir(const char *dir, char *out, size_t len, char *err,
		   size_t errlen)
{
	const char *env = getenv("CRYPTVMI_DIR"), *home = getenv("HOME");
	int n;

	if (dir)
		n = snprintf(out, len, "%s", dir);
	else if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (home && *home)
		n = snprintf(out, len, "%s/.config/cryptvmi", home);
	else
		return vmi_err(err, errlen, -ENOENT, "no --config DIR, "
			       "$CRYPTVMI_DIR or $HOME");
	if (n < 0 || (size_t)n >= len)
		return vmi_err(err, errlen, -ENAMETOOLONG, "config directory "
			       "path too long");
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int set(char *dst, size_t len, const char *v, unsigned *seen,
	       unsigned bit, const char *key, unsigned line, char *err,
	       size_t errlen)
{
	if (*seen & bit)
		return vmi_err(err, errlen, -EINVAL, "config line %u: %s "
			       "given twice", line, key);
	if (strlen(v) >= len)
		return vmi_err(err, errlen, -EINVAL, "config line %u: %s too "
			       "long", line, key);
	strcpy(dst, v);
	*seen |= bit;
	return 0;
}

int cli_config_load(const char *dir, struct cli_config *c, char *err,
		    size_t errlen)
{
	char path[PATH_MAX + 16], buf[1024];
	unsigned seen = 0, line = 0;
	FILE *f;
	int r = 0;

	memset(c, 0, sizeof(*c));
	if (snprintf(c->dir, sizeof(c->dir), "%s", dir) >=
	    (int)sizeof(c->dir))
		return vmi_err(err, errlen, -ENAMETOOLONG, "path too long");
	snprintf(path, sizeof(path), "%s/config", dir);
	f = fopen(path, "re");
	if (!f)
		return vmi_err(err, errlen, -errno, "%s: %s (run cryptvmi "
			       "configure)", path, strerror(errno));
	while (r == 0 && fgets(buf, sizeof(buf), f)) {
		char *eq, *k, *v;

		line++;
		if (!strchr(buf, '\n') && !feof(f)) {
			r = vmi_err(err, errlen, -EINVAL, "config line %u too "
				    "long", line);
			break;
		}
		k = trim(buf);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			r = vmi_err(err, errlen, -EINVAL, "config line %u: not "
				    "key = value", line);
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if (!strcmp(k, "handler"))
			r = set(c->handler, sizeof(c->handler), v, &seen, 1,
				k, line, err, errlen);
		else if (!strcmp(k, "tenant"))
			r = set(c->tenant, sizeof(c->tenant), v, &seen, 2, k,
				line, err, errlen);
		else if (!strcmp(k, "token"))
			r = set(c->token, sizeof(c->token), v, &seen, 4, k,
				line, err, errlen);
		else if (!strcmp(k, "ca"))
			r = set(c->ca, sizeof(c->ca), v, &seen, 8, k, line,
				err, errlen);
		else
			r = vmi_err(err, errlen, -EINVAL, "config line %u: "
				    "unknown key %s", line, k);
	}
	fclose(f);
	if (r == 0 && (seen & 7) != 7)
		r = vmi_err(err, errlen, -EINVAL, "%s lacks %s", path,
			    !(seen & 1) ? "handler" : !(seen & 2) ? "tenant" :
			    "token");
	if (r == 0 && !cvmi_valid_name(c->tenant))
		r = vmi_err(err, errlen, -EINVAL, "config: bad tenant name");
	return r;
}

int cli_config_save(const struct cli_config *c, char *err, size_t errlen)
{
	char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
	int fd, r = 0;
	FILE *f;

	if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
		return vmi_err(err, errlen, -errno, "%s: %s", c->dir,
			       strerror(errno));
	snprintf(path, sizeof(path), "%s/config", c->dir);
	snprintf(tmp, sizeof(tmp), "%s/.config.tmp", c->dir);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		r = vmi_err(err, errlen, -errno, "%s: %s", tmp,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	fprintf(f, "# cryptvmi tenant configuration (holds a secret token)\n"
		"handler = %s\ntenant = %s\ntoken = %s\n", c->handler,
		c->tenant, c->token);
	if (c->ca[0])
		fprintf(f, "ca = %s\n", c->ca);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		r = vmi_err(err, errlen, -errno, "%s: %s", path,
			    strerror(errno));
		unlink(tmp);
	}
	return r;
}

int cli_agent_key(const struct cli_config *c, const char *instance,
		  uint8_t pk[CVMI_KEY_BYTES], char *err, size_t errlen)
{
	char path[PATH_MAX + 96];

	if (!cvmi_valid_name(instance))
		return vmi_err(err, errlen, -EINVAL, "bad instance name");
	snprintf(path, sizeof(path), "%s/agents/%s.pub", c->dir, instance);
	if (access(path, R_OK) < 0)
		return vmi_err(err, errlen, -ENOENT, "no agent key trusted "
			       "for instance %s (cryptvmi trust %s "
			       "AGENT.pub)", instance, instance);
	return cvmi_key_load_public(path, pk, err, errlen);
}
