/* The handler's directory: which tenants exist (and the hash of each one's
 * bearer token), which node runs each instance under which hypervisor-side
 * VM name, and where each node's agent listens. An interface, so that a
 * cloud's own inventory (OpenStack Keystone for tenants, Nova for
 * instances) can replace the embedded SQLite file (dir_sqlite.c).
 *
 * Every operation returns 0 or a negative errno, with one line in err:
 *   -ENOENT   no such tenant, node or instance
 *   -EEXIST   the name is taken
 *   -EBUSY    instances still use the tenant or node
 *   -EINVAL   a bad name, URL or hash
 *   -EIO      the backend failed (its message in err)
 * Lookups are thread-safe; the handler calls them for every request. */
#ifndef VSB_CVMI_DIR_H
#define VSB_CVMI_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define CVMI_TOKEN_HASH_BYTES 32
#define CVMI_URL_MAX 1024
#define CVMI_PATH_MAX 4096

struct cvmi_instance_info {
	char tenant[CVMI_NAME_MAX + 1];
	char node[CVMI_NAME_MAX + 1];
	char vm[CVMI_NAME_MAX + 1];
};

struct cvmi_node_info {
	char url[CVMI_URL_MAX + 1];	/* https://host:port, no trailing '/' */
	char ca_file[CVMI_PATH_MAX];	/* "" for the system's CAs */
};

/* What list() reports, one call per entry: never tokens or hashes. */
enum cvmi_dir_kind { CVMI_DIR_TENANT, CVMI_DIR_NODE, CVMI_DIR_INSTANCE };
struct cvmi_dir_entry {
	enum cvmi_dir_kind kind;
	const char *name;
	const struct cvmi_instance_info *instance;	/* CVMI_DIR_INSTANCE */
	const struct cvmi_node_info *node;		/* CVMI_DIR_NODE */
};
typedef int (*cvmi_dir_list_fn)(const struct cvmi_dir_entry *e, void *arg);

struct cvmi_dir;

struct cvmi_dir_ops {
	const char *backend;
	/* The handler's three lookups. */
	int (*lookup_tenant)(struct cvmi_dir *d, const char *tenant,
			     uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
			     size_t errlen);
	int (*lookup_instance)(struct cvmi_dir *d, const char *instance,
			       struct cvmi_instance_info *out, char *err,
			       size_t errlen);
	int (*lookup_node)(struct cvmi_dir *d, const char *node,
			   struct cvmi_node_info *out, char *err,
			   size_t errlen);
	/* The administrator's. set_token replaces a tenant's token hash. */
	int (*add_tenant)(struct cvmi_dir *d, const char *tenant,
			  const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
			  size_t errlen);
	int (*set_token)(struct cvmi_dir *d, const char *tenant,
			 const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
			 size_t errlen);
	int (*add_node)(struct cvmi_dir *d, const char *node,
			const struct cvmi_node_info *info, char *err,
			size_t errlen);
	int (*add_instance)(struct cvmi_dir *d, const char *instance,
			    const struct cvmi_instance_info *info, char *err,
			    size_t errlen);
	int (*remove_tenant)(struct cvmi_dir *d, const char *tenant, char *err,
			     size_t errlen);
	int (*remove_node)(struct cvmi_dir *d, const char *node, char *err,
			   size_t errlen);
	int (*remove_instance)(struct cvmi_dir *d, const char *instance,
			       char *err, size_t errlen);
	/* Tenants, then nodes, then instances, each sorted by name; stops
	 * at the first non-zero return of fn and returns it. */
	int (*list)(struct cvmi_dir *d, cvmi_dir_list_fn fn, void *arg,
		    char *err, size_t errlen);
	void (*close)(struct cvmi_dir *d);
};

/* Every backend's handle starts with this. */
struct cvmi_dir {
	const struct cvmi_dir_ops *ops;
};

/* The SQLite backend: a file, created (mode 0600, schema included) when
 * create is true and it does not exist. Refuses a file that is not
 * SQLite, not a CryptVMI directory, or of a newer schema. */
int cvmi_dir_sqlite_open(const char *path, bool create, struct cvmi_dir **out,
			 char *err, size_t errlen);

static inline void cvmi_dir_close(struct cvmi_dir *d)
{
	if (d)
		d->ops->close(d);
}

/* Bearer tokens (dir_token.c). A token is 32 random bytes in unpadded
 * base64url (43 characters); only its hash is stored. */
#define CVMI_TOKEN_TEXT 43
/* A fresh token into text (NUL-terminated) and its hash. */
void cvmi_token_new(char text[CVMI_TOKEN_TEXT + 1],
		    uint8_t hash[CVMI_TOKEN_HASH_BYTES]);
/* The hash of a token as presented; -EINVAL if it cannot be a token. */
int cvmi_token_hash(const char *text, size_t len,
		    uint8_t hash[CVMI_TOKEN_HASH_BYTES]);
/* Constant-time comparison of two hashes. */
bool cvmi_token_equal(const uint8_t a[CVMI_TOKEN_HASH_BYTES],
		      const uint8_t b[CVMI_TOKEN_HASH_BYTES]);

#endif
