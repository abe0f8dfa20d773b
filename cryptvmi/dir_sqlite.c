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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int seterr(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

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
	return seterr(err, errlen, ret, "directory: %s: %s", what,
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

/* Copies a text column into a fixed buffer; a longer one means someone
 * wrote the file behind our back. */
static int col_text(sqlite3_stmt *st, int col, char *buf, size_t len,
		    char *err, size_t errlen)
{
	const unsigned char *s = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!s || n < 0 || (size_t)n >= len || memchr(s, 0, (size_t)n))
		return seterr(err, errlen, -EIO,
			      "directory: corrupt %s value",
			      sqlite3_column_name(st, col));
	memcpy(buf, s, (size_t)n);
	buf[n] = '\0';
	return 0;
}

/* Runs a statement that returns no rows; SQLite's result code out. */
static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int lookup_tenant(struct cvmi_dir *d, const char *tenant,
			 uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
			 size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	ret = prep(s->db, "SELECT token_hash FROM tenants WHERE name = ?1",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *h = sqlite3_column_blob(st, 0);
		if (h && sqlite3_column_bytes(st, 0) == CVMI_TOKEN_HASH_BYTES)
			memcpy(hash, h, CVMI_TOKEN_HASH_BYTES);
		else
			ret = seterr(err, errlen, -EIO,
				     "directory: corrupt token hash");
	} else if (rc == SQLITE_DONE) {
		ret = seterr(err, errlen, -ENOENT, "unknown tenant '%s'",
			     tenant);
	} else {
		ret = db_fail(s->db, rc, "tenant lookup", err, errlen);
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int lookup_instance(struct cvmi_dir *d, const char *instance,
			   struct cvmi_instance_info *out, char *err,
			   size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	ret = prep(s->db,
		   "SELECT tenant, node, vm FROM instances WHERE name = ?1",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = col_text(st, 0, out->tenant, sizeof(out->tenant), err,
			       errlen);
		if (!ret)
			ret = col_text(st, 1, out->node, sizeof(out->node),
				       err, errlen);
		if (!ret)
			ret = col_text(st, 2, out->vm, sizeof(out->vm), err,
				       errlen);
	} else if (rc == SQLITE_DONE) {
		ret = seterr(err, errlen, -ENOENT, "unknown instance '%s'",
			     instance);
	} else {
		ret = db_fail(s->db, rc, "instance lookup", err, errlen);
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int lookup_node(struct cvmi_dir *d, const char *node,
		       struct cvmi_node_info *out, char *err, size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	ret = prep(s->db, "SELECT url, ca_file FROM nodes WHERE name = ?1",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = col_text(st, 0, out->url, sizeof(out->url), err, errlen);
		if (!ret)
			ret = col_text(st, 1, out->ca_file,
				       sizeof(out->ca_file), err, errlen);
	} else if (rc == SQLITE_DONE) {
		ret = seterr(err, errlen, -ENOENT, "unknown node '%s'", node);
	} else {
		ret = db_fail(s->db, rc, "node lookup", err, errlen);
	}
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Does sql (a count with one name parameter) find a row? 1, 0 or
 * -errno. */
static int exists(sqlite3 *db, const char *sql, const char *name, char *err,
		  size_t errlen)
{
	sqlite3_stmt *st;
	int ret = prep(db, sql, &st, err, errlen), rc;

	if (ret)
		return ret;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ret = sqlite3_column_int(st, 0) > 0;
	else
		ret = db_fail(db, rc, "lookup", err, errlen);
	sqlite3_finalize(st);
	return ret;
}

static bool names_ok(const char *kind, const char *name, char *err,
		     size_t errlen)
{
	if (cvmi_valid_name(name))
		return true;
	seterr(err, errlen, -EINVAL,
	       "bad %s name: 1 to %d letters, digits, '.', '_' or '-', "
	       "not starting with '.' or '-'", kind, CVMI_NAME_MAX);
	return false;
}

static int add_tenant(struct cvmi_dir *d, const char *tenant,
		      const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
		      size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	if (!names_ok("tenant", tenant, err, errlen))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	ret = prep(s->db,
		   "INSERT INTO tenants (name, token_hash) VALUES (?1, ?2)",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, CVMI_TOKEN_HASH_BYTES, SQLITE_STATIC);
	rc = step_done(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = seterr(err, errlen, -EEXIST,
			     "tenant '%s' already exists", tenant);
	else if (rc != SQLITE_OK)
		ret = db_fail(s->db, rc, "add tenant", err, errlen);
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int set_token(struct cvmi_dir *d, const char *tenant,
		     const uint8_t hash[CVMI_TOKEN_HASH_BYTES], char *err,
		     size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	ret = prep(s->db, "UPDATE tenants SET token_hash = ?2 WHERE name = ?1",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, hash, CVMI_TOKEN_HASH_BYTES, SQLITE_STATIC);
	rc = step_done(st);
	if (rc != SQLITE_OK)
		ret = db_fail(s->db, rc, "set token", err, errlen);
	else if (sqlite3_changes(s->db) == 0)
		ret = seterr(err, errlen, -ENOENT, "unknown tenant '%s'",
			     tenant);
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int add_node(struct cvmi_dir *d, const char *node,
		    const struct cvmi_node_info *info, char *err,
		    size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	if (!names_ok("node", node, err, errlen))
		return -EINVAL;
	if (!memchr(info->url, 0, sizeof(info->url)) || !info->url[0] ||
	    !memchr(info->ca_file, 0, sizeof(info->ca_file)))
		return seterr(err, errlen, -EINVAL, "bad node URL or CA file");
	pthread_mutex_lock(&s->lock);
	ret = prep(s->db,
		   "INSERT INTO nodes (name, url, ca_file) VALUES (?1, ?2, ?3)",
		   &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, info->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, info->ca_file, -1, SQLITE_STATIC);
	rc = step_done(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		ret = seterr(err, errlen, -EEXIST, "node '%s' already exists",
			     node);
	else if (rc != SQLITE_OK)
		ret = db_fail(s->db, rc, "add node", err, errlen);
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int add_instance(struct cvmi_dir *d, const char *instance,
			const struct cvmi_instance_info *info, char *err,
			size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	if (!names_ok("instance", instance, err, errlen) ||
	    !names_ok("tenant", info->tenant, err, errlen) ||
	    !names_ok("node", info->node, err, errlen) ||
	    !names_ok("VM", info->vm, err, errlen))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	ret = prep(s->db,
		   "INSERT INTO instances (name, tenant, node, vm) "
		   "VALUES (?1, ?2, ?3, ?4)", &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, instance, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, info->tenant, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, info->node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, info->vm, -1, SQLITE_STATIC);
	rc = step_done(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
		ret = seterr(err, errlen, -EEXIST,
			     "instance '%s' already exists", instance);
	} else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
		/* Say which reference is missing. */
		ret = exists(s->db, "SELECT count(*) FROM tenants "
			     "WHERE name = ?1", info->tenant, err, errlen);
		if (ret == 0)
			ret = seterr(err, errlen, -ENOENT,
				     "unknown tenant '%s'", info->tenant);
		else if (ret > 0)
			ret = seterr(err, errlen, -ENOENT,
				     "unknown node '%s'", info->node);
	} else if (rc != SQLITE_OK) {
		ret = db_fail(s->db, rc, "add instance", err, errlen);
	}
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Deletes one row; in_use counts what still refers to it. */
static int remove_row(struct cvmi_dir *d, const char *kind, const char *sql,
		      const char *in_use, const char *name, char *err,
		      size_t errlen)
{
	struct dir_sqlite *s = ds(d);
	sqlite3_stmt *st;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	ret = prep(s->db, sql, &st, err, errlen);
	if (ret)
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = step_done(st);
	sqlite3_finalize(st);
	/* ON DELETE RESTRICT fails as SQLITE_CONSTRAINT_TRIGGER, not
	 * _FOREIGNKEY: any constraint here is a reference. */
	if ((rc & 0xff) == SQLITE_CONSTRAINT && in_use) {
		sqlite3_stmt *q;
		ret = prep(s->db, in_use, &q, err, errlen);
		if (ret)
			goto out;
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		int n = sqlite3_step(q) == SQLITE_ROW ?
			sqlite3_column_int(q, 0) : 0;
		sqlite3_finalize(q);
		ret = seterr(err, errlen, -EBUSY,
			     "%s '%s' still has %d instance(s): remove them "
			     "first", kind, name, n);
	} else if (rc != SQLITE_OK) {
		ret = db_fail(s->db, rc, "remove", err, errlen);
	} else if (sqlite3_changes(s->db) == 0) {
		ret = seterr(err, errlen, -ENOENT, "unknown %s '%s'", kind,
			     name);
	}
out:
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
	struct cvmi_instance_info inst;
	struct cvmi_node_info node;
	char name[CVMI_NAME_MAX + 1];
	struct cvmi_dir_entry e = { .kind = kind, .name = name };
	sqlite3_stmt *st;
	int ret = prep(db, sql[kind], &st, err, errlen), rc;

	if (ret)
		return ret;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ret = col_text(st, 0, name, sizeof(name), err, errlen);
		if (!ret && kind == CVMI_DIR_NODE) {
			ret = col_text(st, 1, node.url, sizeof(node.url), err,
				       errlen);
			if (!ret)
				ret = col_text(st, 2, node.ca_file,
					       sizeof(node.ca_file), err,
					       errlen);
			e.node = &node;
		} else if (!ret && kind == CVMI_DIR_INSTANCE) {
			ret = col_text(st, 1, inst.tenant, sizeof(inst.tenant),
				       err, errlen);
			if (!ret)
				ret = col_text(st, 2, inst.node,
					       sizeof(inst.node), err, errlen);
			if (!ret)
				ret = col_text(st, 3, inst.vm, sizeof(inst.vm),
					       err, errlen);
			e.instance = &inst;
		}
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

/* One integer from a query without parameters; -errno on failure. */
static int query_int(sqlite3 *db, const char *sql, int *val, char *err,
		     size_t errlen)
{
	sqlite3_stmt *st;
	int ret = prep(db, sql, &st, err, errlen), rc;

	if (ret)
		return ret;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*val = sqlite3_column_int(st, 0);
	else
		ret = db_fail(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc, sql,
			      err, errlen);
	sqlite3_finalize(st);
	return ret;
}

/* Creates the schema in an empty file, unless another process did so
 * first (the check is inside the write transaction). */
static int create_schema(sqlite3 *db, const char *path, char *err,
			 size_t errlen)
{
	int n = 0, rc, ret;

	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, path, err, errlen);
	ret = query_int(db, "SELECT count(*) FROM sqlite_master", &n, err,
			errlen);
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
	ret = query_int(db, "SELECT count(*) FROM sqlite_master", &n, err,
			errlen);
	if (ret) {
		if (sqlite3_errcode(db) == SQLITE_NOTADB)
			return seterr(err, errlen, -EINVAL,
				      "%s is not an SQLite database", path);
		return ret;
	}
	if (n == 0) {
		if (!create)
			return seterr(err, errlen, -EINVAL,
				      "%s is an empty database: set it up "
				      "with cryptvmi-admin", path);
		ret = create_schema(db, path, err, errlen);
		if (ret)
			return ret;
	}
	ret = query_int(db, "SELECT count(*) FROM sqlite_master WHERE "
			"type = 'table' AND name = 'schema_version'", &n, err,
			errlen);
	if (ret)
		return ret;
	if (n == 0)
		return seterr(err, errlen, -EINVAL,
			      "%s is not a CryptVMI directory (no "
			      "schema_version table)", path);
	ret = query_int(db, "SELECT max(version) FROM schema_version",
			&version, err, errlen);
	if (ret)
		return ret;
	if (version > SCHEMA_VERSION)
		return seterr(err, errlen, -EINVAL,
			      "%s has schema version %d, newer than this "
			      "program's %d", path, version, SCHEMA_VERSION);
	if (version < 1)
		return seterr(err, errlen, -EINVAL,
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
	ret = query_int(db, "PRAGMA foreign_keys", &fk, err, errlen);
	if (ret)
		return ret;
	if (fk != 1)
		return seterr(err, errlen, -ENOTSUP,
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
			return seterr(err, errlen, -errno, "%s: %s", path,
				      strerror(errno));
		close(fd);
	} else if (access(path, F_OK) < 0) {
		int e = errno;
		return seterr(err, errlen, -e, "%s: %s%s", path, strerror(e),
			      e == ENOENT ? " (create it with cryptvmi-admin)"
					  : "");
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return seterr(err, errlen, -ENOMEM, "out of memory");
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->lock, NULL);
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		ret = s->db ? db_fail(s->db, rc, path, err, errlen)
			    : seterr(err, errlen, -ENOMEM, "out of memory");
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
