/* Unit tests of the handler's directory in SQLite (cryptvmi/dir_sqlite.c)
 * and its bearer tokens (cryptvmi/dir_token.c): add, look up and remove;
 * duplicates; foreign keys between instances and their tenant and node; a
 * fresh file and an existing one; files that are not ours refused with a
 * clear message; tokens hashed and compared. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cryptvmi/dir.h"

struct fixture {
	char dir[64];
	char path[96];
	struct cvmi_dir *d;
};

static void expect_err(const char *err, const char *want)
{
	if (!strstr(err, want))
		fail_msg("error '%s' does not mention '%s'", err, want);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	assert_non_null(f);
	assert_true(sodium_init() >= 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/cvmi-dir-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/dir.db", f->dir);
	assert_int_equal(cvmi_dir_sqlite_open(f->path, true, &f->d, err,
					      sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	cvmi_dir_close(f->d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void add_tenant(struct cvmi_dir *d, const char *name,
		       uint8_t hash[CVMI_TOKEN_HASH_BYTES])
{
	char token[CVMI_TOKEN_TEXT + 1], err[256] = "";

	cvmi_token_new(token, hash);
	assert_int_equal(d->ops->add_tenant(d, name, hash, err, sizeof(err)),
			 0);
}

static void add_node(struct cvmi_dir *d, const char *name, const char *url)
{
	struct cvmi_node_info n = { 0 };
	char err[256] = "";

	snprintf(n.url, sizeof(n.url), "%s", url);
	snprintf(n.ca_file, sizeof(n.ca_file), "/etc/cvmi/%s-ca.pem", name);
	assert_int_equal(d->ops->add_node(d, name, &n, err, sizeof(err)), 0);
}

static int add_instance(struct cvmi_dir *d, const char *name,
			const char *tenant, const char *node, const char *vm,
			char *err, size_t errlen)
{
	struct cvmi_instance_info i = { 0 };

	snprintf(i.tenant, sizeof(i.tenant), "%s", tenant);
	snprintf(i.node, sizeof(i.node), "%s", node);
	snprintf(i.vm, sizeof(i.vm), "%s", vm);
	return d->ops->add_instance(d, name, &i, err, errlen);
}

static void test_tokens(void **state)
{
	char a[CVMI_TOKEN_TEXT + 1], b[CVMI_TOKEN_TEXT + 1];
	uint8_t ha[CVMI_TOKEN_HASH_BYTES], hb[CVMI_TOKEN_HASH_BYTES];
	uint8_t h[CVMI_TOKEN_HASH_BYTES];

	(void)state;
	cvmi_token_new(a, ha);
	cvmi_token_new(b, hb);
	assert_int_equal(strlen(a), CVMI_TOKEN_TEXT);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
				"opqrstuvwxyz0123456789-_"), CVMI_TOKEN_TEXT);
	assert_string_not_equal(a, b);
	assert_false(cvmi_token_equal(ha, hb));
	/* The presented text hashes to the stored hash. */
	assert_int_equal(cvmi_token_hash(a, strlen(a), h), 0);
	assert_true(cvmi_token_equal(h, ha));
	assert_int_equal(cvmi_token_hash(b, strlen(b), h), 0);
	assert_false(cvmi_token_equal(h, ha));
	/* One character off. */
	a[5] = a[5] == 'A' ? 'B' : 'A';
	assert_int_equal(cvmi_token_hash(a, strlen(a), h), 0);
	assert_false(cvmi_token_equal(h, ha));
	/* Shapes that cannot be a token. */
	assert_int_equal(cvmi_token_hash(a, strlen(a) - 1, h), -EINVAL);
	assert_int_equal(cvmi_token_hash("", 0, h), -EINVAL);
	a[7] = '+';
	assert_int_equal(cvmi_token_hash(a, strlen(a), h), -EINVAL);
	a[7] = ' ';
	assert_int_equal(cvmi_token_hash(a, strlen(a), h), -EINVAL);
}

static void test_add_lookup_remove(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t ha[CVMI_TOKEN_HASH_BYTES], got[CVMI_TOKEN_HASH_BYTES];
	struct cvmi_instance_info inst;
	struct cvmi_node_info node;
	char err[256] = "";

	assert_string_equal(d->ops->backend, "sqlite");
	add_tenant(d, "alice", ha);
	add_node(d, "n1", "https://10.0.0.1:8443");
	assert_int_equal(add_instance(d, "web1", "alice", "n1", "vsbd-web1",
				      err, sizeof(err)), 0);

	assert_int_equal(d->ops->lookup_tenant(d, "alice", got, err,
					       sizeof(err)), 0);
	assert_true(cvmi_token_equal(got, ha));
	assert_int_equal(d->ops->lookup_instance(d, "web1", &inst, err,
						 sizeof(err)), 0);
	assert_string_equal(inst.tenant, "alice");
	assert_string_equal(inst.node, "n1");
	assert_string_equal(inst.vm, "vsbd-web1");
	assert_int_equal(d->ops->lookup_node(d, "n1", &node, err,
					     sizeof(err)), 0);
	assert_string_equal(node.url, "https://10.0.0.1:8443");
	assert_string_equal(node.ca_file, "/etc/cvmi/n1-ca.pem");

	/* Unknown names. */
	assert_int_equal(d->ops->lookup_tenant(d, "bob", got, err,
					       sizeof(err)), -ENOENT);
	expect_err(err, "unknown tenant 'bob'");
	assert_int_equal(d->ops->lookup_instance(d, "web2", &inst, err,
						 sizeof(err)), -ENOENT);
	expect_err(err, "unknown instance 'web2'");
	assert_int_equal(d->ops->lookup_node(d, "n2", &node, err,
					     sizeof(err)), -ENOENT);
	expect_err(err, "unknown node 'n2'");
	/* Names are exact: no case folding, no patterns. */
	assert_int_equal(d->ops->lookup_tenant(d, "ALICE", got, err,
					       sizeof(err)), -ENOENT);
	assert_int_equal(d->ops->lookup_tenant(d, "%", got, err,
					       sizeof(err)), -ENOENT);

	/* Removal, in the order foreign keys allow. */
	assert_int_equal(d->ops->remove_instance(d, "web1", err,
						 sizeof(err)), 0);
	assert_int_equal(d->ops->lookup_instance(d, "web1", &inst, err,
						 sizeof(err)), -ENOENT);
	assert_int_equal(d->ops->remove_instance(d, "web1", err,
						 sizeof(err)), -ENOENT);
	expect_err(err, "unknown instance 'web1'");
	assert_int_equal(d->ops->remove_node(d, "n1", err, sizeof(err)), 0);
	assert_int_equal(d->ops->remove_tenant(d, "alice", err, sizeof(err)),
			 0);
	assert_int_equal(d->ops->lookup_tenant(d, "alice", got, err,
					       sizeof(err)), -ENOENT);
	assert_int_equal(d->ops->remove_tenant(d, "alice", err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(d->ops->remove_node(d, "n1", err, sizeof(err)),
			 -ENOENT);
}

static void test_duplicates(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t h1[CVMI_TOKEN_HASH_BYTES], h2[CVMI_TOKEN_HASH_BYTES];
	uint8_t got[CVMI_TOKEN_HASH_BYTES];
	struct cvmi_node_info n = { .url = "https://x:1" };
	char err[256] = "";

	add_tenant(d, "alice", h1);
	add_tenant(d, "bob", h2);
	add_node(d, "n1", "https://10.0.0.1:8443");
	/* A second alice would replace nobody's token. */
	assert_int_equal(d->ops->add_tenant(d, "alice", h2, err, sizeof(err)),
			 -EEXIST);
	expect_err(err, "tenant 'alice' already exists");
	assert_int_equal(d->ops->lookup_tenant(d, "alice", got, err,
					       sizeof(err)), 0);
	assert_true(cvmi_token_equal(got, h1));
	assert_int_equal(d->ops->add_node(d, "n1", &n, err, sizeof(err)),
			 -EEXIST);
	expect_err(err, "node 'n1' already exists");
	assert_int_equal(add_instance(d, "web1", "alice", "n1", "a", err,
				      sizeof(err)), 0);
	/* Instance names are global: bob cannot take alice's. */
	assert_int_equal(add_instance(d, "web1", "bob", "n1", "b", err,
				      sizeof(err)), -EEXIST);
	expect_err(err, "instance 'web1' already exists");
	struct cvmi_instance_info inst;
	assert_int_equal(d->ops->lookup_instance(d, "web1", &inst, err,
						 sizeof(err)), 0);
	assert_string_equal(inst.tenant, "alice");
}

static void test_foreign_keys(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t h[CVMI_TOKEN_HASH_BYTES];
	char err[256] = "";

	add_tenant(d, "alice", h);
	add_node(d, "n1", "https://10.0.0.1:8443");
	assert_int_equal(add_instance(d, "web1", "carol", "n1", "v", err,
				      sizeof(err)), -ENOENT);
	expect_err(err, "unknown tenant 'carol'");
	assert_int_equal(add_instance(d, "web1", "alice", "n9", "v", err,
				      sizeof(err)), -ENOENT);
	expect_err(err, "unknown node 'n9'");
	assert_int_equal(add_instance(d, "web1", "alice", "n1", "v", err,
				      sizeof(err)), 0);
	assert_int_equal(add_instance(d, "web2", "alice", "n1", "w", err,
				      sizeof(err)), 0);
	/* Still in use. */
	assert_int_equal(d->ops->remove_node(d, "n1", err, sizeof(err)),
			 -EBUSY);
	expect_err(err, "node 'n1' still has 2 instance(s)");
	assert_int_equal(d->ops->remove_tenant(d, "alice", err, sizeof(err)),
			 -EBUSY);
	expect_err(err, "tenant 'alice' still has 2 instance(s)");
	/* Nothing was removed by the refusals. */
	struct cvmi_node_info n;
	assert_int_equal(d->ops->lookup_node(d, "n1", &n, err, sizeof(err)),
			 0);
	assert_int_equal(d->ops->lookup_tenant(d, "alice", h, err,
					       sizeof(err)), 0);
}

static void test_set_token(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t h1[CVMI_TOKEN_HASH_BYTES], h2[CVMI_TOKEN_HASH_BYTES];
	uint8_t got[CVMI_TOKEN_HASH_BYTES];
	char token[CVMI_TOKEN_TEXT + 1], err[256] = "";

	add_tenant(d, "alice", h1);
	cvmi_token_new(token, h2);
	assert_int_equal(d->ops->set_token(d, "alice", h2, err, sizeof(err)),
			 0);
	assert_int_equal(d->ops->lookup_tenant(d, "alice", got, err,
					       sizeof(err)), 0);
	assert_true(cvmi_token_equal(got, h2));
	assert_false(cvmi_token_equal(got, h1));
	assert_int_equal(d->ops->set_token(d, "bob", h2, err, sizeof(err)),
			 -ENOENT);
	expect_err(err, "unknown tenant 'bob'");
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t h[CVMI_TOKEN_HASH_BYTES] = { 0 };
	struct cvmi_node_info n = { .url = "https://x:1" };
	char err[256] = "", longname[80];

	memset(longname, 'a', 65);
	longname[65] = '\0';
	const char *bad[] = { "", ".x", "-x", "a b", "a/b", "a'b", longname };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(d->ops->add_tenant(d, bad[i], h, err,
						    sizeof(err)), -EINVAL);
		expect_err(err, "bad tenant name");
		assert_int_equal(d->ops->add_node(d, bad[i], &n, err,
						  sizeof(err)), -EINVAL);
		assert_int_equal(add_instance(d, bad[i], "a", "n", "v", err,
					      sizeof(err)), -EINVAL);
		if (strlen(bad[i]) > CVMI_NAME_MAX)
			continue;	/* would not fit the struct */
		assert_int_equal(add_instance(d, "i", "a", "n", bad[i], err,
					      sizeof(err)), -EINVAL);
		expect_err(err, "bad VM name");
	}
	longname[64] = '\0';	/* 64 is the limit, and fine */
	assert_int_equal(d->ops->add_tenant(d, longname, h, err, sizeof(err)),
			 0);
}

struct listed {
	char text[1024];
	int n, stop_after;
};

static int collect(const struct cvmi_dir_entry *e, void *arg)
{
	struct listed *l = arg;
	size_t len = strlen(l->text);
	char *p = l->text + len, *end = l->text + sizeof(l->text);

	switch (e->kind) {
	case CVMI_DIR_TENANT:
		snprintf(p, (size_t)(end - p), "t:%s;", e->name);
		break;
	case CVMI_DIR_NODE:
		snprintf(p, (size_t)(end - p), "n:%s=%s;", e->name,
			 e->node->url);
		break;
	case CVMI_DIR_INSTANCE:
		snprintf(p, (size_t)(end - p), "i:%s=%s/%s/%s;", e->name,
			 e->instance->tenant, e->instance->node,
			 e->instance->vm);
		break;
	}
	return ++l->n == l->stop_after ? 42 : 0;
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct cvmi_dir *d = f->d;
	uint8_t h[CVMI_TOKEN_HASH_BYTES];
	struct listed l = { .stop_after = -1 };
	char err[256] = "";

	assert_int_equal(d->ops->list(d, collect, &l, err, sizeof(err)), 0);
	assert_string_equal(l.text, "");
	add_tenant(d, "bob", h);
	add_tenant(d, "alice", h);
	add_node(d, "n2", "https://b:2");
	add_node(d, "n1", "https://a:1");
	assert_int_equal(add_instance(d, "web2", "bob", "n2", "v2", err,
				      sizeof(err)), 0);
	assert_int_equal(add_instance(d, "web1", "alice", "n1", "v1", err,
				      sizeof(err)), 0);
	assert_int_equal(d->ops->list(d, collect, &l, err, sizeof(err)), 0);
	assert_string_equal(l.text, "t:alice;t:bob;n:n1=https://a:1;"
			    "n:n2=https://b:2;i:web1=alice/n1/v1;"
			    "i:web2=bob/n2/v2;");
	/* The callback's non-zero return stops the listing. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 3;
	assert_int_equal(d->ops->list(d, collect, &l, err, sizeof(err)), 42);
	assert_int_equal(l.n, 3);
}

static void test_existing_file(void **state)
{
	struct fixture *f = *state;
	uint8_t h[CVMI_TOKEN_HASH_BYTES], got[CVMI_TOKEN_HASH_BYTES];
	struct cvmi_instance_info inst;
	struct cvmi_dir *d2;
	struct stat st;
	char err[256] = "", missing[128];

	add_tenant(f->d, "alice", h);
	add_node(f->d, "n1", "https://a:1");
	assert_int_equal(add_instance(f->d, "web1", "alice", "n1", "v1", err,
				      sizeof(err)), 0);
	cvmi_dir_close(f->d);
	f->d = NULL;
	/* It holds token hashes: nobody else may read it. */
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Reopened without create (as the handler does), all is there. */
	assert_int_equal(cvmi_dir_sqlite_open(f->path, false, &d2, err,
					      sizeof(err)), 0);
	assert_int_equal(d2->ops->lookup_tenant(d2, "alice", got, err,
						sizeof(err)), 0);
	assert_true(cvmi_token_equal(got, h));
	assert_int_equal(d2->ops->lookup_instance(d2, "web1", &inst, err,
						  sizeof(err)), 0);
	/* Two handles at once (the handler and the admin tool). */
	assert_int_equal(cvmi_dir_sqlite_open(f->path, true, &f->d, err,
					      sizeof(err)), 0);
	assert_int_equal(f->d->ops->remove_instance(f->d, "web1", err,
						    sizeof(err)), 0);
	assert_int_equal(d2->ops->lookup_instance(d2, "web1", &inst, err,
						  sizeof(err)), -ENOENT);
	cvmi_dir_close(d2);

	/* Without create, a missing file is an error, and stays missing. */
	snprintf(missing, sizeof(missing), "%s/none.db", f->dir);
	assert_int_equal(cvmi_dir_sqlite_open(missing, false, &d2, err,
					      sizeof(err)), -ENOENT);
	assert_null(d2);
	expect_err(err, "none.db");
	expect_err(err, "cryptvmi-admin");
	assert_int_equal(access(missing, F_OK), -1);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void expect_open_fails(const char *path, bool create, int ret,
			      const char *msg)
{
	struct cvmi_dir *d = (struct cvmi_dir *)1;
	char err[256] = "";

	assert_int_equal(cvmi_dir_sqlite_open(path, create, &d, err,
					      sizeof(err)), ret);
	assert_null(d);
	expect_err(err, msg);
	assert_null(strchr(err, '\n'));
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_not_ours(void **state)
{
	struct fixture *f = *state;
	char path[128], garbage[8192];
	uint8_t back[sizeof(garbage)];

	/* Garbage: refused, whether or not we may create, and untouched. */
	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 7 + 3);
	write_file(path, garbage, sizeof(garbage));
	expect_open_fails(path, false, -EINVAL, "not an SQLite database");
	expect_open_fails(path, true, -EINVAL, "not an SQLite database");
	int fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(back, garbage, sizeof(garbage));

	/* An empty file: the handler will not set it up. */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	write_file(path, "", 0);
	expect_open_fails(path, false, -EINVAL, "empty database");

	/* Another program's SQLite file. */
	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	sql(path, "CREATE TABLE photos (id INTEGER);");
	expect_open_fails(path, true, -EINVAL, "not a CryptVMI directory");

	/* Ours, from a newer version. */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	sql(path, "CREATE TABLE schema_version (version INTEGER);"
		  "INSERT INTO schema_version VALUES (99);");
	expect_open_fails(path, false, -EINVAL, "schema version 99");
}

static void test_corrupt_row(void **state)
{
	struct fixture *f = *state;
	struct cvmi_instance_info inst;
	char err[256] = "", vm[200];
	char text[512];
	uint8_t h[CVMI_TOKEN_HASH_BYTES];

	add_tenant(f->d, "alice", h);
	add_node(f->d, "n1", "https://a:1");
	/* Written behind our back: a VM name longer than any we accept. */
	memset(vm, 'v', sizeof(vm) - 1);
	vm[sizeof(vm) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "INSERT INTO instances VALUES ('web1', 'alice', 'n1', '%s');",
		 vm);
	sql(f->path, text);
	assert_int_equal(f->d->ops->lookup_instance(f->d, "web1", &inst, err,
						    sizeof(err)), -EIO);
	expect_err(err, "corrupt");
}

struct race {
	struct cvmi_dir *d;
	uint8_t hash[CVMI_TOKEN_HASH_BYTES];
	int bad;
};

static void *lookups(void *arg)
{
	struct race *r = arg;
	uint8_t got[CVMI_TOKEN_HASH_BYTES];
	struct cvmi_instance_info inst;
	struct cvmi_node_info node;
	char err[256];

	for (int i = 0; i < 300; i++) {
		if (r->d->ops->lookup_tenant(r->d, "alice", got, err,
					     sizeof(err)) ||
		    !cvmi_token_equal(got, r->hash) ||
		    r->d->ops->lookup_instance(r->d, "web1", &inst, err,
					       sizeof(err)) ||
		    r->d->ops->lookup_node(r->d, inst.node, &node, err,
					   sizeof(err)) ||
		    r->d->ops->lookup_node(r->d, "zz", &node, err,
					   sizeof(err)) != -ENOENT)
			__atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The handler's threads share one handle. */
static void test_threads(void **state)
{
	struct fixture *f = *state;
	struct race r = { .d = f->d };
	pthread_t t[4];
	char err[256] = "";

	add_tenant(f->d, "alice", r.hash);
	add_node(f->d, "n1", "https://a:1");
	assert_int_equal(add_instance(f->d, "web1", "alice", "n1", "v", err,
				      sizeof(err)), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lookups, &r), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(r.bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokens),
		cmocka_unit_test_setup_teardown(test_add_lookup_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_set_token, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_ours, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_row, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
