/* cryptvmi-agent: a compute node's introspection agent (PROTOCOL.md,
 * README.md "Agent"). It holds the agent's secret key, the enrolled
 * tenants' public keys and which instance is which VM here; it opens
 * tenants' sealed requests, checks what each is bound to, runs the
 * operation with the vmi library and seals the answer. Everything it
 * receives comes through the operator's untrusted handler: every size is
 * bounded, and refusals say nothing secret. */
#ifndef VSB_CVMI_AGENT_H
#define VSB_CVMI_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#include "../vmi/mem_file.h"

#define AGENT_DEFAULT_DIR "/var/lib/cryptvmi-agent"
/* The largest HTTP body the agent takes (PROTOCOL.md "HTTP"). */
#define AGENT_BODY_MAX (8u << 20)
/* Bounds on the state directory's contents. */
#define AGENT_MAX_TENANTS 4096
#define AGENT_MAX_INSTANCES 4096
#define AGENT_LINE_MAX 4096
#define AGENT_INSTANCES_FILE_MAX (4u << 20)
/* Replay cache entries (PROTOCOL.md: refuse rather than forget). */
#define AGENT_REPLAY_MAX 65536

enum agent_source_kind {
	AGENT_SRC_VSBD,		/* vsbd:/path/control.sock */
	AGENT_SRC_QEMU,		/* qemu:/path/ram:/path/qmp.sock */
	AGENT_SRC_CORE,		/* core:/path/file */
	AGENT_SRC_RAM,		/* ram:/path/file:pc|q35|vsbd (tests) */
};

struct agent_source {
	enum agent_source_kind kind;
	char path[PATH_MAX];	/* socket, RAM file or core */
	char qmp[PATH_MAX];	/* qemu: the QMP socket */
	enum vmi_ram_layout machine;	/* ram */
};

/* One line of the instances file. */
struct agent_instance_conf {
	char name[CVMI_NAME_MAX + 1];
	char tenant[CVMI_NAME_MAX + 1];
	char vm[CVMI_NAME_MAX + 1];
	struct agent_source src;
};

/* Parses SOURCE (the formats above; paths absolute, without ':' or
 * whitespace). 0 or -EINVAL with one line in err. */
int agent_source_parse(const char *s, struct agent_source *out, char *err,
		       size_t errlen);
/* The instances file, "INSTANCE TENANT VM SOURCE" a line; fields are
 * separated by spaces or tabs, blank lines and lines starting with '#'
 * are skipped. Names as cvmi_valid_name; an instance appears once.
 * 0 with *out (malloc'd) and *n, or -EINVAL with "line N: why" in err
 * (-E2BIG: too many lines or instances, -ENOMEM). */
int agent_instances_parse(const char *text, size_t len,
			  struct agent_instance_conf **out, size_t *n,
			  char *err, size_t errlen);

/* The state directory's files. */
int agent_path(char *buf, size_t len, const char *dir, const char *file);

struct agent;

/* Loads DIR: agent.key, tenants/NAME.pub, instances (every instance's
 * tenant must be enrolled). max_skew: seconds a request's ts may differ
 * from the clock (CVMI_MAX_SKEW_S). 0 or -errno with one line in err. */
int agent_load(const char *dir, int max_skew, struct agent **out, char *err,
	       size_t errlen);
void agent_free(struct agent *a);
size_t agent_nr_instances(const struct agent *a);
size_t agent_nr_tenants(const struct agent *a);

/* What a request was about, for the log line: names only once they are
 * known valid ("" before), never arguments or results. */
struct agent_qlog {
	char tenant[CVMI_NAME_MAX + 1];
	char instance[CVMI_NAME_MAX + 1];
	char op[CVMI_OP_MAX + 1];
	const char *code;	/* the refusal's code, NULL on success */
};

/* Handles one POST /v1/query body (len bytes, need not be NUL-terminated):
 * *status is the HTTP status and *reply (malloc'd, NUL-terminated) its
 * JSON body, {"v":1,"ciphertext":...} or {"error":...,"code":...}.
 * log may be NULL. 0, or -ENOMEM when no reply could be made. */
int agent_handle_query(struct agent *a, const char *body, size_t len,
		       char **reply, int *status, struct agent_qlog *log);

/* Serves HTTPS on listen ("ADDR:PORT", "[V6ADDR]:PORT"; port 0 picks
 * one) with the PEM certificate chain and key in those files, until
 * SIGINT or SIGTERM. Prints "listening on ADDR:PORT" to stderr once
 * ready. 0 or -errno with one line in err. */
int agent_serve(struct agent *a, const char *listen, const char *cert_path,
		const char *key_path, char *err, size_t errlen);

#endif
