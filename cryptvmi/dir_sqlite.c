/* The handler's directory in one SQLite file (dir.h): the embedded
 * default, for a single management node. Every value goes through a bound
 * parameter of a prepared statement; foreign keys keep instances pointing
 * at real tenants and nodes; WAL lets the administrator's tool write
 * while the handler reads. One connection per process, behind a mutex:
 * lookups take microseconds, far less than a forward to an agent. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../vmi/vmi_err.h"
#include "dir.h"

#define SCHEMA_VERSION 1
/* How long a statement waits for the administrator's write lock. */
#define BUSY_TIMEOUT_MS 5000

struct dir_sqlite {
	struct cvmi_dir base;
	sqlite3 *db;
	pthread_mutex_t lock;
};

static const char schema_v1[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL);"
	"INSERT INTO schema_version VALUES (1);"
	"CREATE TABLE tenants ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" token_hash BLOB NOT NULL CHECK (length(token_hash) = 32));"
	"CREATE TABLE nodes ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" url TEXT NOT NULL,"
	" ca_file TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE instances ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" tenant TEXT NOT NULL REFERENCES tenants (name) ON DELETE RESTRICT,"
	" node TEXT NOT NULL REFERENCES nodes (name) ON DELETE RESTRICT,"
	" vm TEXT NOT NULL);"
	"CREATE INDEX instances_tenant ON instances (tenant);"
	"CREATE INDEX instances_node ON instances (node);";

static struct dir_sqlite *ds(struct cvmi_dir *d)
{
	return (struct dir_sqlite *)d;
}

/* An SQLite failure as an errno, with SQLite's own words. */
static int db_fail(sqlite3 *db, int rc, const char *what, char *err,
		   size_t errlen)
{
	int ret = -EIO;

	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		ret = -EAGAIN;
	else if (rc == SQLITE_NOMEM)
		ret = -ENOMEM;
	return vmi_err(err, errlen, ret, "directory: %s: %s", what,
		       sqlite3_errmsg(db));
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err,
		size_t errlen)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "prepare", err, errlen);
	return 0;
}

/* prep, then the n text parameters ?1, ?2, ... from texts. */
static int prep_bind(sqlite3 *db, const char *sql, sqlite3_stmt **st,
		     const char *const *texts, int n, char *err, size_t errlen)
{
	int ret = prep(db, sql, st, err, errlen);

	for (int i = 0; !ret && i < n; i++)
		sqlite3_bind_text(*st, i + 1, texts[i], -1, SQLITE_STATIC);
	return ret;
}

/* Copies a text column into a fixed buffer; a longer one means someone
 * wrote the file behind our back. */
static int col_text(sqlite3_stmt *st, int col, char *buf, size_t len,
		    char *err, size_t errlen)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!s || n < 0 || (size_t)n >= len || memchr(s, 0, (size_t)n))
		return vmi_err(err, errlen, -EIO,
			       "directory: corrupt %s value",
			       sqlite3_column_name(st, col));
	memcpy(buf, s, (size_t)n);
	buf[n] = '\0';
	return 0;
}

/* Where col_texts puts one column. */
struct col_buf {
	char *buf;
	size_t len;
};
#define COL(array) { (array), sizeof(array) }

/* Columns 0 to n - 1 of the row into cols, in order. */
static int col_texts(sqlite3_stmt *st, const struct col_buf *cols, int n,
		     char *err, size_t errlen)
{
	int ret = 0;

	for (int i = 0; !ret && i < n; i++)
		ret = col_text(st, i, cols[i].buf, cols[i].len, err, errlen);
	return ret;
}

/* Steps sql, with key as ?1, to its row: 0 with *st on it for the caller
 * to read and finalize, or -errno ("unknown KIND" when there is none). */
static int find_row(sqlite3 *db, const char *sql, const char *kind,
		    const char *key, sqlite3_stmt **st, char *err,
		    size_t errlen)
{
	char what[32];
	int ret = prep_bind(db, sql, st, &key, 1, err, errlen), rc;

	if (ret)
		return ret;
	rc = sqlite3_step(*st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE) {
		ret = vmi_err(err, errlen, -ENOENT, "unknown %s '%s'", kind,
			      key);
	} else {
		snprintf(what, sizeof(what), "%s lookup", kind);
		ret = db_fail(db, rc, what, err, errlen);
	}
	sqlite3_finalize(*st);
	return ret;
}

/* Runs a statement that returns no rows: the n text parameters ?1.. from
 * texts, then, if hash is given, the token hash after them. SQLite's
 * result code (SQLITE_OK or why it failed), or -errno (err set) when it
 * could not be prepared. */
static int change(sqlite3 *db, const char *sql, const char *const *texts,
		  int n, const uint8_t *hash, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = prep_bind(db, sql, &st, texts, n, err, errlen);

	if (rc)
		return rc;
	if (hash)
		sqlite3_bind_blob(st, n + 1, hash, CVMI_TOKEN_HASH_BYTES,
				  SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* change()'s result as 0 or -errno, once the caller has explained the
 * failures it expects. */
static int change_ret(sqlite3 *db, int rc, const char *what, char *err,
		      size_t errlen)
{
	return rc > 0 ? db_fail(db, rc, what, err, errlen) : rc;
}

/* One integer from sql, with name (unless NULL) as ?1; -errno on failure,
 * naming what (NULL: the query itself). */
static int query_int(sqlite3 *db, const char *sql, const char *name,
		     const char *what, int *val, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int ret = prep_bind(db, sql, &st, &name, name ? 1 : 0, err, errlen);
	int rc;

	if (ret)
		return ret;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*val = sqlite3_column_int(st, 0);
	else
		ret = db_fail(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc,
			      what ? what : sql, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

static int lookup_tenant(struct cvmi_dir *d, const char *tenant,
			 uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
			 size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = find_row(s->db, "SELECT token_hash FROM tenants WHERE name = ?1",
		       "tenant", tenant, &st, err, errlen);
	if (!ret) {
		const void *h = sqlite3_column_blob(st, 0);
		if (h && sqlite3_column_bytes(st, 0) == CVMI_TOKEN_HASH_BYTES)
			memcpy(hash, h, CVMI_TOKEN_HASH_BYTES);
		else
			ret = vmi_err(err, errlen, -EIO,
				      "directory: corrupt token hash");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int lookup_instance(struct cvmi_dir *d, const char *instance,
			   struct cvmi_instance_info *out, char *err,
			   size_t errlen)
{
	const struct col_buf cols[] = {
		COL(out->tenant), COL(out->node), COL(out->vm),
	};
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = find_row(s->db,
		       "SELECT tenant, node, vm FROM instances WHERE name = ?1",
		       "instance", instance, &st, err, errlen);
	if (!ret) {
		ret = col_texts(st, cols, 3, err, errlen);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int lookup_node(struct cvmi_dir *d, const char *node,
		       struct cvmi_node_info *out, char *err, size_t errlen)
{
	const struct col_buf cols[] = { COL(out->url), COL(out->ca_file) };
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = find_row(s->db, "SELECT url, ca_file FROM nodes WHERE name = ?1",
		       "node", node, &st, err, errlen);
	if (!ret) {
		ret = col_texts(st, cols, 2, err, errlen);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static bool names_ok(const char *kind, const char *name, char *err,
		     size_t errlen)
{
	if (cvmi_valid_name(name))
		return true;
	vmi_err(err, errlen, -EINVAL,
		"bad %s name: 1 to %d letters, digits, '.', '_' or '-', "
		"not starting with '.' or '-'", kind, CVMI_NAME_MAX);
	return false;
}

static int add_tenant(struct cvmi_dir *d, const char *tenant,
		      const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
		      size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	int ret, rc;

	if (!names_ok("tenant", tenant, err, errlen))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = change(s->db,
		    "INSERT INTO tenants (name, token_hash) VALUES (?1, ?2)",
		    &tenant, 1, hash, err, errlen);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = vmi_err(err, errlen, -EEXIST,
			      "tenant '%s' already exists", tenant);
	else
		ret = change_ret(s->db, rc, "add tenant", err, errlen);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int set_token(struct cvmi_dir *d, const char *tenant,
		     const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
		     size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	rc = change(s->db, "UPDATE tenants SET token_hash = ?2 WHERE name = ?1",
		    &tenant, 1, hash, err, errlen);
	ret = change_ret(s->db, rc, "set token", err, errlen);
	if (!ret && sqlite3_changes(s->db) == 0)
		ret = vmi_err(err, errlen, -ENOENT, "unknown tenant '%s'",
			      tenant);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int add_node(struct cvmi_dir *d, const char *node,
		    const struct cvmi_node_info *info, char *err,
		    size_t errlen)
{
	const char *const texts[] = { node, info->url, info->ca_file };
	struct dir_sqlite *s = ds(d);
	int ret, rc;

	if (!names_ok("node", node, err, errlen))
		return -EINVAL;
	if (!memchr(info->url, 0, sizeof(info->url)) || !info->url[0] ||
	    !memchr(info->ca_file, 0, sizeof(info->ca_file)))
		return vmi_err(err, errlen, -EINVAL, "bad node URL or CA file");
	pthread_mutex_lock(&s->lock);
	rc = change(s->db, "INSERT INTO nodes (name, url, ca_file) "
		    "VALUES (?1, ?2, ?3)", texts, 3, NULL, err, errlen);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = vmi_err(err, errlen, -EEXIST, "node '%s' already exists",
			      node);
	else
		ret = change_ret(s->db, rc, "add node", err, errlen);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int add_instance(struct cvmi_dir *d, const char *instance,
			const struct cvmi_instance_info *info, char *err,
			size_t errlen)
{
	const char *const texts[] = {
		instance, info->tenant, info->node, info->vm,
	};
	struct dir_sqlite *s = ds(d);
	int ret, rc, n = 0;

	if (!names_ok("instance", instance, err, errlen) ||
	    !names_ok("tenant", info->tenant, err, errlen) ||
	    !names_ok("node", info->node, err, errlen) ||
	    !names_ok("VM", info->vm, err, errlen))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rc = change(s->db,
		    "INSERT INTO instances (name, tenant, node, vm) "
		    "VALUES (?1, ?2, ?3, ?4)", texts, 4, NULL, err, errlen);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		ret = vmi_err(err, errlen, -EEXIST,
			      "instance '%s' already exists", instance);
	} else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		/* Say which reference is missing. */
		ret = query_int(s->db, "SELECT count(*) FROM tenants "
				"WHERE name = ?1", info->tenant, "lookup", &n,
				err, errlen);
		if (!ret && n <= 0)
			ret = vmi_err(err, errlen, -ENOENT,
				      "unknown tenant '%s'", info->tenant);
		else if (!ret)
			ret = vmi_err(err, errlen, -ENOENT,
				      "unknown node '%s'", info->node);
	} else {
		ret = change_ret(s->db, rc, "add instance", err, errlen);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Deletes one row; in_use counts what still refers to it. */
static int remove_row(struct cvmi_dir *d, const char *kind, const char *sql,
		      const char *in_use, const char *name, char *err,
		      size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	rc = change(s->db, sql, &name, 1, NULL, err, errlen);
	/* ON DELETE RESTRICT fails as SQLITE_CONSTRAINT_TRIGGER, not
	 * _FOREIGNKEY: any constraint here is a reference. */
	if (rc > 0 && (rc & 0xff) == SQLITE_CONSTRAINT && in_use) {
		sqlite3_stmt *q;
		ret = prep_bind(s->db, in_use, &q, &name, 1, err, errlen);
		if (!ret) {
			int n = sqlite3_step(q) == SQLITE_ROW ?
				sqlite3_column_int(q, 0) : 0;
			sqlite3_finalize(q);
			ret = vmi_err(err, errlen, -EBUSY,
				      "%s '%s' still has %d instance(s): "
				      "remove them first", kind, name, n);
		}
	} else {
		ret = change_ret(s->db, rc, "remove", err, errlen);
		if (!ret && sqlite3_changes(s->db) == 0)
			ret = vmi_err(err, errlen, -ENOENT, "unknown %s '%s'",
				      kind, name);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int remove_tenant(struct cvmi_dir *d, const char *tenant, char *err,
			 size_t errlen)
{
	return remove_row(d, "tenant", "DELETE FROM tenants WHERE name = ?1",
			  "SELECT count(*) FROM instances WHERE tenant = ?1",
			  tenant, err, errlen);
}

static int remove_node(struct cvmi_dir *d, const char *node, char *err,
		       size_t errlen)
{
	return remove_row(d, "node", "DELETE FROM nodes WHERE name = ?1",
			  "SELECT count(*) FROM instances WHERE node = ?1",
			  node, err, errlen);
}

static int remove_instance(struct cvmi_dir *d, const char *instance,
			   char *err, size_t errlen)
{
	return remove_row(d, "instance",
			  "DELETE FROM instances WHERE name = ?1", NULL,
			  instance, err, errlen);
}

static int list_kind(sqlite3 *db, enum cvmi_dir_kind kind, cvmi_dir_list_fn fn,
		     void *arg, char *err, size_t errlen)
{
	static const char *const sql[] = {
		[CVMI_DIR_TENANT] = "SELECT name FROM tenants ORDER BY name",
		[CVMI_DIR_NODE] =
			"SELECT name, url, ca_file FROM nodes ORDER BY name",
		[CVMI_DIR_INSTANCE] = "SELECT name, tenant, node, vm "
				      "FROM instances ORDER BY name",
	};
	static const int ncols[] = {
		[CVMI_DIR_TENANT] = 1, [CVMI_DIR_NODE] = 3,
		[CVMI_DIR_INSTANCE] = 4,
	};
	struct cvmi_instance_info inst;
	struct cvmi_node_info node;
	char name[CVMI_NAME_MAX + 1];
	/* Where each kind's query's columns go, in order. */
	const struct col_buf cols[][4] = {
		[CVMI_DIR_TENANT] = { COL(name) },
		[CVMI_DIR_NODE] = { COL(name), COL(node.url),
				    COL(node.ca_file) },
		[CVMI_DIR_INSTANCE] = { COL(name), COL(inst.tenant),
					COL(inst.node), COL(inst.vm) },
	};
	struct cvmi_dir_entry e = { .kind = kind, .name = name };
	sqlite3_stmt *st;
	int ret = prep(db, sql[kind], &st, err, errlen), rc;

	if (ret)
		return ret;
	if (kind == CVMI_DIR_NODE)
		e.node = &node;
	else if (kind == CVMI_DIR_INSTANCE)
		e.instance = &inst;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ret = col_texts(st, cols[kind], ncols[kind], err, errlen);
		if (!ret)
			ret = fn(&e, arg);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = db_fail(db, rc, "list", err, errlen);
	sqlite3_finalize(st);
	return ret;
}

static int list(struct cvmi_dir *d, cvmi_dir_list_fn fn, void *arg,
		char *err, size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	for (int k = CVMI_DIR_TENANT; !ret && k <= CVMI_DIR_INSTANCE; k++)
		ret = list_kind(s->db, (enum cvmi_dir_kind)k, fn, arg, err,
				errlen);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void dir_close(struct cvmi_dir *d)
{
	struct dir_sqlite *s = ds(d);

	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct cvmi_dir_ops sqlite_ops = {
	.backend = "sqlite",
	.lookup_tenant = lookup_tenant,
	.lookup_instance = lookup_instance,
	.lookup_node = lookup_node,
	.add_tenant = add_tenant,
	.set_token = set_token,
	.add_node = add_node,
	.add_instance = add_instance,
	.remove_tenant = remove_tenant,
	.remove_node = remove_node,
	.remove_instance = remove_instance,
	.list = list,
	.close = dir_close,
};


/* Creates the schema in an empty file, unless another process did so
 * first (the check is inside the write transaction). */
static int create_schema(sqlite3 *db, const char *path, char *err,
			 size_t errlen)
{
	int n = 0, rc, ret;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, path, err, errlen);
	ret = query_int(db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
			&n, err, errlen);
	if (!ret && n == 0) {
		rc = sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			ret = db_fail(db, rc, "create schema", err, errlen);
	}
	if (ret) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(db, rc, path, err, errlen);
}

static int check_schema(sqlite3 *db, const char *path, bool create,
			char *err, size_t errlen)
{
	int n = 0, version = 0, ret;

	/* The first read of the file: garbage fails here. */
	ret = query_int(db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
			&n, err, errlen);
	if (ret) {
		if (sqlite3_errcode(db) == SQLITE_NOTADB)
			return vmi_err(err, errlen, -EINVAL,
				       "%s is not an SQLite database", path);
		return ret;
	}
	if (n == 0) {
		if (!create)
			return vmi_err(err, errlen, -EINVAL,
				       "%s is an empty database: set it up "
				       "with cryptvmi-admin", path);
		ret = create_schema(db, path, err, errlen);
		if (ret)
			return ret;
	}
	ret = query_int(db, "SELECT count(*) FROM sqlite_master WHERE "
			"type = 'table' AND name = 'schema_version'", NULL,
			NULL, &n, err, errlen);
	if (ret)
		return ret;
	if (n == 0)
		return vmi_err(err, errlen, -EINVAL,
			       "%s is not a CryptVMI directory (no "
			       "schema_version table)", path);
	ret = query_int(db, "SELECT max(version) FROM schema_version", NULL,
			NULL, &version, err, errlen);
	if (ret)
		return ret;
	if (version > SCHEMA_VERSION)
		return vmi_err(err, errlen, -EINVAL,
			       "%s has schema version %d, newer than this "
			       "program's %d", path, version, SCHEMA_VERSION);
	if (version < 1)
		return vmi_err(err, errlen, -EINVAL,
			       "%s: bad schema version %d", path, version);
	return 0;
}

/* Per-connection settings: none of them is stored in the file except the
 * journal mode. */
static int configure(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int fk = 0, ret;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* The file is data, never code: no triggers or views acting with
	 * our rights, no writes to the schema by SQL. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return db_fail(db, sqlite3_errcode(db), path, err, errlen);
	ret = query_int(db, "PRAGMA foreign_keys", NULL, NULL, &fk, err,
			errlen);
	if (ret)
		return ret;
	if (fk != 1)
		return vmi_err(err, errlen, -ENOTSUP,
			       "this SQLite has no foreign keys");
	return 0;
}

static int set_wal(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int ret = prep(db, "PRAGMA journal_mode = WAL", &st, err, errlen);

	if (ret)
		return ret;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		ret = db_fail(db, rc, path, err, errlen);
	sqlite3_finalize(st);
	return ret;
}

int cvmi_dir_sqlite_open(const char *path, bool create, struct cvmi_dir **out,
			 char *err, size_t errlen)
{
	struct dir_sqlite *s;
	int ret, rc;

	*out = NULL;
	if (create) {
		/* Made here so its mode is ours: it holds token hashes. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return vmi_err(err, errlen, -errno, "%s: %s", path,
				       strerror(errno));
		close(fd);
	} else if (access(path, F_OK) < 0) {
		int e = errno;
		return vmi_err(err, errlen, -e, "%s: %s%s", path, strerror(e),
			       e == ENOENT ? " (create it with cryptvmi-admin)"
					   : "");
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->lock, NULL);
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		ret = s->db ? db_fail(s->db, rc, path, err, errlen)
			    : vmi_err(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	ret = configure(s->db, path, err, errlen);
	if (!ret)
		ret = check_schema(s->db, path, create, err, errlen);
	if (!ret)
		ret = set_wal(s->db, path, err, errlen);
	if (ret)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	dir_close(&s->base);
	return ret;
}
