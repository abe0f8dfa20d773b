/* Unit tests of the CryptVMI agent (cryptvmi/agent_*.c) without HTTP:
 * agent_handle_query on requests sealed as a tenant would
 * (cvmi_request_seal) or by hand (libsodium, for plaintexts the library
 * would not make), against a state directory made here and a RAM file
 * source. Every binding the agent checks is broken once; refusals must
 * carry nothing of the plaintext or the keys. Also the instances file's
 * and SOURCE's parsers, bad state directories, random bodies, and
 * concurrent requests on one instance. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "cryptvmi/agent.h"

#define RAM_SIZE (2u << 20)

struct fixture {
	char dir[64];		/* temporary; state in dir/st */
	char st[128], ram[128];
	struct cvmi_keypair agent, alice, bob, mallory;
	struct agent *a;
};

static struct fixture F;

static uint8_t ram_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

static void write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void save_keys(const char *secret, const char *pub,
		      struct cvmi_keypair *kp)
{
	char err[256];

	cvmi_keygen(kp);
	assert_int_equal(cvmi_key_save(secret, pub, kp, err, sizeof(err)), 0);
}

static void path_in(char *buf, size_t len, const char *file)
{
	snprintf(buf, len, "%s/%s", F.dir, file);
}

static int setup(void **state)
{
	char p1[256], p2[256], text[1024], err[512];
	uint8_t *buf = malloc(RAM_SIZE);

	(void)state;
	assert_int_equal(cvmi_init(), 0);
	snprintf(F.dir, sizeof(F.dir), "/tmp/cvmi-agent-XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	path_in(F.st, sizeof(F.st), "st");
	path_in(F.ram, sizeof(F.ram), "ram");
	assert_int_equal(mkdir(F.st, 0700), 0);
	path_in(p1, sizeof(p1), "st/tenants");
	assert_int_equal(mkdir(p1, 0700), 0);
	path_in(p1, sizeof(p1), "st/agent.key");
	path_in(p2, sizeof(p2), "st/agent.pub");
	save_keys(p1, p2, &F.agent);
	path_in(p1, sizeof(p1), "alice.key");
	path_in(p2, sizeof(p2), "st/tenants/alice.pub");
	save_keys(p1, p2, &F.alice);
	path_in(p1, sizeof(p1), "bob.key");
	path_in(p2, sizeof(p2), "st/tenants/bob.pub");
	save_keys(p1, p2, &F.bob);
	/* Mallory is not enrolled. */
	cvmi_keygen(&F.mallory);
	assert_non_null(buf);
	for (size_t i = 0; i < RAM_SIZE; i++)
		buf[i] = ram_byte(i);
	int fd = open(F.ram, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, RAM_SIZE), RAM_SIZE);
	close(fd);
	free(buf);
	snprintf(text, sizeof(text),
		 "# instance tenant vm source\n"
		 "web1 alice vm-web1 ram:%s:pc\n"
		 "\n"
		 "web2\talice  vm-web2 ram:%s:q35\n"
		 "db1 bob vm-db1 ram:%s:vsbd\n"
		 "core1 alice vm-core core:%s/nosuch.core\n",
		 F.ram, F.ram, F.ram, F.dir);
	path_in(p1, sizeof(p1), "st/instances");
	write_text(p1, text);
	assert_int_equal(agent_load(F.st, CVMI_MAX_SKEW_S, &F.a, err,
				    sizeof(err)), 0);
	assert_int_equal(agent_nr_instances(F.a), 4);
	assert_int_equal(agent_nr_tenants(F.a), 2);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	agent_free(F.a);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- making requests ---- */

static char *outer(const char *tenant, const char *instance, const char *vm,
		   const char *ct)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "tenant",
			      tenant, "instance", instance, "vm", vm,
			      "ciphertext", ct);
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	assert_non_null(s);
	return s;
}

/* A request sealed by the library: tenant/instance inside, sk outside. */
static char *sealed(const char *tenant, const char *instance, const char *op,
		    json_t *args, int64_t ts, const struct cvmi_keypair *kp,
		    char id[CVMI_ID_HEX + 1])
{
	char err[256], *ct;

	assert_int_equal(cvmi_request_seal(tenant, instance, op, args, ts,
					   F.agent.pk, kp->sk, id, &ct, err,
					   sizeof(err)), 0);
	json_decref(args);
	return ct;
}

/* Any plaintext, sealed by hand from sk to the agent. */
static char *seal_raw(const char *plain, const uint8_t sk[CVMI_KEY_BYTES])
{
	size_t len = strlen(plain), blen = crypto_box_NONCEBYTES +
					   crypto_box_MACBYTES + len;
	size_t b64 = sodium_base64_encoded_len(blen,
					       sodium_base64_VARIANT_ORIGINAL);
	unsigned char *bin = malloc(blen);
	char *out = malloc(b64);

	assert_non_null(bin);
	assert_non_null(out);
	randombytes_buf(bin, crypto_box_NONCEBYTES);
	assert_int_equal(crypto_box_easy(bin + crypto_box_NONCEBYTES,
					 (const unsigned char *)plain, len,
					 bin, F.agent.pk, sk), 0);
	sodium_bin2base64(out, b64, bin, blen, sodium_base64_VARIANT_ORIGINAL);
	free(bin);
	return out;
}

struct answer {
	int status;
	char *reply;
	json_t *j;
	struct agent_qlog log;
};

static void ask_len(const char *body, size_t len, struct answer *an)
{
	json_error_t je;

	memset(an, 0, sizeof(*an));
	assert_int_equal(agent_handle_query(F.a, body, len, &an->reply,
					    &an->status, &an->log), 0);
	assert_non_null(an->reply);
	an->j = json_loads(an->reply, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(an->j);
}

static void ask(const char *body, struct answer *an)
{
	ask_len(body, strlen(body), an);
}

static void answer_free(struct answer *an)
{
	free(an->reply);
	json_decref(an->j);
}

/* A refusal: exactly {"error", "code"} with the status and code. */
static void assert_refused(const struct answer *an, int status,
			   const char *code)
{
	if (an->status != status)
		fail_msg("status %d, wanted %d: %s", an->status, status,
			 an->reply);
	assert_int_equal(json_object_size(an->j), 2);
	assert_true(json_is_string(json_object_get(an->j, "error")));
	assert_string_equal(json_string_value(json_object_get(an->j, "code")),
			    code);
	assert_string_equal(an->log.code, code);
}

static bool contains_hex_or_b64(const char *s, const uint8_t *key)
{
	char hex[2 * CVMI_KEY_BYTES + 1], b64[64];

	sodium_bin2hex(hex, sizeof(hex), key, CVMI_KEY_BYTES);
	sodium_bin2base64(b64, sizeof(b64), key, CVMI_KEY_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
	b64[20] = '\0';	/* any long piece of it */
	hex[20] = '\0';
	return strstr(s, hex) || strstr(s, b64);
}

/* Nothing of the request's plaintext (its id, its arguments) and no
 * secret key in a refusal. */
static void assert_no_leak(const struct answer *an, const char *id)
{
	assert_null(strstr(an->reply, id));
	assert_null(strstr(an->reply, "1badc0de"));
	assert_false(contains_hex_or_b64(an->reply, F.agent.sk));
	assert_false(contains_hex_or_b64(an->reply, F.alice.sk));
	assert_false(contains_hex_or_b64(an->reply, F.bob.sk));
}

/* Opens a 200 answer as tenant kp; *result or *error set. */
static void open_answer(const struct answer *an, const char *id,
			const char *instance, const struct cvmi_keypair *kp,
			json_t **result, char **error)
{
	char err[256];
	json_t *ct = json_object_get(an->j, "ciphertext");

	if (an->status != 200)
		fail_msg("status %d: %s", an->status, an->reply);
	assert_int_equal(json_integer_value(json_object_get(an->j, "v")), 1);
	assert_int_equal(json_object_size(an->j), 2);
	assert_true(json_is_string(ct));
	assert_null(an->log.code);
	assert_int_equal(cvmi_response_open(json_string_value(ct), id,
					    instance, F.agent.pk, kp->sk,
					    result, error, err, sizeof(err)),
			 0);
}

static json_t *read_args(const char *addr, int len, bool phys)
{
	json_t *a = json_pack("{s:s, s:i}", "addr", addr, "len", len);

	if (phys)
		json_object_set_new(a, "phys", json_true());
	return a;
}

/* A read of the marker address assert_no_leak looks for. */
static char *sealed_marker(const char *tenant, const char *instance,
			   int64_t ts, const struct cvmi_keypair *kp,
			   char id[CVMI_ID_HEX + 1])
{
	return sealed(tenant, instance, "read",
		      read_args("0x1badc0de", 16, true), ts, kp, id);
}

/* Sends ct under the outer labels and expects status: with code, a
 * refusal with that code; with id, one that leaks nothing of the
 * request. */
static void send_expect(const char *tenant, const char *instance,
			const char *vm, const char *ct, int status,
			const char *code, const char *id)
{
	char *body = outer(tenant, instance, vm, ct);
	struct answer an;

	ask(body, &an);
	if (code)
		assert_refused(&an, status, code);
	else
		assert_int_equal(an.status, status);
	if (id)
		assert_no_leak(&an, id);
	answer_free(&an);
	free(body);
}

/* Runs op as alice on instance (VM vm) and opens the answer. */
static void alice_op_on(const char *instance, const char *vm,
			const char *op, json_t *args, json_t **result,
			char **error)
{
	char id[CVMI_ID_HEX + 1];
	char *ct = sealed("alice", instance, op, args, time(NULL), &F.alice,
			  id);
	char *body = outer("alice", instance, vm, ct);
	struct answer an;

	ask(body, &an);
	open_answer(&an, id, instance, &F.alice, result, error);
	assert_string_equal(an.log.tenant, "alice");
	assert_string_equal(an.log.instance, instance);
	assert_string_equal(an.log.op, op);
	answer_free(&an);
	free(body);
	free(ct);
}

static void alice_op(const char *op, json_t *args, json_t **result,
		     char **error)
{
	alice_op_on("web1", "vm-web1", op, args, result, error);
}

/* ---- the tests ---- */

static void test_phys_read(void **state)
{
	json_t *res;
	char *error, want[129];

	(void)state;
	alice_op("read", read_args("0x1000", 64, true), &res, &error);
	assert_null(error);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "addr")),
			    "0x1000");
	assert_int_equal(json_integer_value(json_object_get(res, "len")), 64);
	for (size_t i = 0; i < 64; i++)
		snprintf(want + 2 * i, 3, "%02x", ram_byte(0x1000 + i));
	assert_string_equal(json_string_value(json_object_get(res, "hex")),
			    want);
	json_decref(res);

	/* Across the end of RAM: the bytes before it. */
	alice_op("read", read_args("0x1ffff8", 64, true), &res, &error);
	assert_null(error);
	assert_int_equal(json_integer_value(json_object_get(res, "len")), 8);
	json_decref(res);

	/* The largest read the protocol allows. */
	alice_op("read", read_args("0x0", 1 << 20, true), &res, &error);
	assert_null(error);
	assert_int_equal(json_integer_value(json_object_get(res, "len")),
			 1 << 20);
	const char *hex = json_string_value(json_object_get(res, "hex"));
	assert_int_equal(strlen(hex), 2u << 20);
	snprintf(want, 3, "%02x", ram_byte((1 << 20) - 1));
	assert_memory_equal(hex + (2u << 20) - 2, want, 2);
	json_decref(res);
}

/* A failed operation is an answer for the tenant (ok false), not a
 * refusal. */
static void test_op_failures(void **state)
{
	json_t *res;
	char *error;

	(void)state;
	alice_op("read", read_args("0x10000000", 16, true), &res, &error);
	assert_null(res);
	assert_non_null(strstr(error, "not guest RAM"));
	free(error);
	alice_op("regs", json_pack("{s:i}", "vcpu", 0), &res, &error);
	assert_null(res);
	assert_string_equal(error, "this source has no registers");
	free(error);
	alice_op("pause", NULL, &res, &error);
	assert_string_equal(error, "this source is not a live guest");
	free(error);
	/* A RAM file of a known pattern has no Linux in it. */
	alice_op("ps", NULL, &res, &error);
	assert_null(res);
	assert_non_null(strstr(error, "cannot find the guest's Linux "
				      "kernel"));
	free(error);
	alice_op("read", read_args("0xffffffff81000000", 16, false), &res,
		 &error);
	assert_non_null(strstr(error, "Linux kernel"));
	free(error);

	/* A source that does not open. */
	alice_op_on("core1", "vm-core", "info", NULL, &res, &error);
	assert_non_null(strstr(error, "cannot open the guest"));
	free(error);
}

static void test_wrong_key(void **state)
{
	char id[CVMI_ID_HEX + 1];
	struct answer an;
	char *ct, *body;

	(void)state;
	/* Mallory seals as alice: it does not open with alice's key. */
	ct = sealed_marker("alice", "web1", time(NULL), &F.mallory, id);
	body = outer("alice", "web1", "vm-web1", ct);
	ask(body, &an);
	assert_refused(&an, 401, "bad_ciphertext");
	assert_no_leak(&an, id);
	assert_string_equal(an.log.op, "");
	answer_free(&an);
	free(body);
	free(ct);

	/* Bob's own request relabelled as alice's (to reach her VM). */
	ct = sealed_marker("bob", "web1", time(NULL), &F.bob, id);
	send_expect("alice", "web1", "vm-web1", ct, 401, "bad_ciphertext", id);
	free(ct);

	/* Sealed to another agent. */
	struct cvmi_keypair other;
	char err[256];
	cvmi_keygen(&other);
	assert_int_equal(cvmi_request_seal("alice", "web1", "ps", NULL,
					   time(NULL), other.pk, F.alice.sk,
					   id, &ct, err, sizeof(err)), 0);
	send_expect("alice", "web1", "vm-web1", ct, 401, "bad_ciphertext",
		    NULL);

	/* Tampered: one character changed, then truncated. */
	ct[40] = ct[40] == 'A' ? 'B' : 'A';
	send_expect("alice", "web1", "vm-web1", ct, 401, "bad_ciphertext",
		    NULL);
	ct[strlen(ct) / 2] = '\0';
	send_expect("alice", "web1", "vm-web1", ct, 401, "bad_ciphertext",
		    NULL);
	free(ct);

	/* Not base64 at all, or empty. */
	const char *junk[] = { "", "!!!!", "AAAA", "====", "not base64 at all",
			       "QUJD\nREVG" };
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		send_expect("alice", "web1", "vm-web1", junk[i], 401,
			    "bad_ciphertext", NULL);
}

static void test_relabelled(void **state)
{
	char id[CVMI_ID_HEX + 1];
	char *ct, plain[512];

	(void)state;
	/* Alice's request for web1 forwarded as one for web2 (hers too, so
	 * the box opens; the sealed instance differs). */
	ct = sealed_marker("alice", "web1", time(NULL), &F.alice, id);
	send_expect("alice", "web2", "vm-web2", ct, 403, "misbound", id);
	free(ct);

	/* A box alice really sealed, naming bob inside, sent as hers. */
	snprintf(plain, sizeof(plain),
		 "{\"v\":1,\"type\":\"request\",\"tenant\":\"bob\","
		 "\"instance\":\"web1\",\"id\":\"%s\",\"ts\":%lld,"
		 "\"op\":\"read\",\"args\":{\"addr\":\"0x1badc0de\","
		 "\"len\":16,\"phys\":true}}",
		 "0123456789abcdef0123456789abcdef", (long long)time(NULL));
	ct = seal_raw(plain, F.alice.sk);
	send_expect("alice", "web1", "vm-web1", ct, 403, "misbound",
		    "0123456789abcdef0123456789abcdef");
	free(ct);
}

static void test_other_tenants_instance(void **state)
{
	char id[CVMI_ID_HEX + 1];
	char *ct;

	(void)state;
	/* Alice names bob's instance honestly: the box opens and binds,
	 * but db1 is not hers here. */
	ct = sealed_marker("alice", "db1", time(NULL), &F.alice, id);
	send_expect("alice", "db1", "vm-db1", ct, 403, "misbound", id);
	free(ct);

	/* No such instance here. */
	ct = sealed("alice", "nosuch", "ps", NULL, time(NULL), &F.alice, id);
	send_expect("alice", "nosuch", "vm-web1", ct, 404, "unknown", NULL);
	free(ct);

	/* No such tenant here. */
	ct = sealed("mallory", "web1", "ps", NULL, time(NULL), &F.mallory,
		    id);
	send_expect("mallory", "web1", "vm-web1", ct, 404, "unknown", NULL);
	free(ct);
}

static void test_vm_mismatch(void **state)
{
	char id[CVMI_ID_HEX + 1];
	char *ct;
	const char *vms[] = { "vm-web2", "vm-db1", "vm-web1x", "VM-WEB1" };

	(void)state;
	/* The handler sends web1's request to another VM of alice's, or of
	 * bob's: the enrolled VM name must match. */
	for (size_t i = 0; i < sizeof(vms) / sizeof(vms[0]); i++) {
		ct = sealed_marker("alice", "web1", time(NULL), &F.alice, id);
		send_expect("alice", "web1", vms[i], ct, 403, "misbound", id);
		free(ct);
	}
}

static void test_replay(void **state)
{
	char id[CVMI_ID_HEX + 1];
	struct answer an;
	json_t *res;
	char *error, *ct, *body;

	(void)state;
	ct = sealed_marker("alice", "web1", time(NULL), &F.alice, id);
	body = outer("alice", "web1", "vm-web1", ct);
	ask(body, &an);
	open_answer(&an, id, "web1", &F.alice, &res, &error);
	free(error);
	json_decref(res);
	answer_free(&an);
	free(body);
	/* The same bytes again (outer makes the same body), and again. */
	for (int i = 0; i < 3; i++)
		send_expect("alice", "web1", "vm-web1", ct, 409, "replay", id);
	/* The same box under another VM name first is refused before the
	 * replay cache sees it: it does not burn the id. */
	free(ct);
	ct = sealed("alice", "web1", "ps", NULL, time(NULL), &F.alice, id);
	send_expect("alice", "web1", "vm-db1", ct, 403, "misbound", NULL);
	send_expect("alice", "web1", "vm-web1", ct, 200, NULL, NULL);
	send_expect("alice", "web1", "vm-web1", ct, 409, "replay", NULL);
	free(ct);
}

static void test_stale(void **state)
{
	const int64_t offs[] = { -CVMI_MAX_SKEW_S - 5, CVMI_MAX_SKEW_S + 5,
				 -100000, 100000, -(int64_t)time(NULL) };
	char id[CVMI_ID_HEX + 1];
	char *ct;

	(void)state;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		ct = sealed_marker("alice", "web1", time(NULL) + offs[i],
				   &F.alice, id);
		send_expect("alice", "web1", "vm-web1", ct, 409, "stale", id);
		free(ct);
	}
	/* Within the window: fine. */
	ct = sealed("alice", "web1", "ps", NULL, time(NULL) + 10, &F.alice,
		    id);
	send_expect("alice", "web1", "vm-web1", ct, 200, NULL, NULL);
	free(ct);
}

/* Authentic, but not a request the library would make. */
static void test_malformed_plaintext(void **state)
{
	const char *plains[] = {
		"not json",
		"[]",
		"{\"v\":1}",
		"{\"v\":1,\"type\":\"request\",\"tenant\":\"alice\","
		"\"instance\":\"web1\",\"id\":\"0123456789abcdef0123456789abcdef\","
		"\"ts\":%lld,\"op\":\"read\",\"args\":{\"addr\":\"0x1badc0de\","
		"\"len\":99999999}}",
		"{\"v\":1,\"type\":\"request\",\"tenant\":\"alice\","
		"\"instance\":\"web1\",\"id\":\"0123456789abcdef0123456789abcdef\","
		"\"ts\":%lld,\"op\":\"write\",\"args\":{\"addr\":\"0x1badc0de\"}}",
		"{\"v\":2,\"type\":\"request\",\"tenant\":\"alice\","
		"\"instance\":\"web1\",\"id\":\"0123456789abcdef0123456789abcdef\","
		"\"ts\":%lld,\"op\":\"ps\",\"args\":{}}",
	};
	char plain[1024], *ct;

	(void)state;
	for (size_t i = 0; i < sizeof(plains) / sizeof(plains[0]); i++) {
		snprintf(plain, sizeof(plain), plains[i],
			 (long long)time(NULL));
		ct = seal_raw(plain, F.alice.sk);
		send_expect("alice", "web1", "vm-web1", ct, 400, "bad_request",
			    "0123456789abcdef0123456789abcdef");
		free(ct);
	}
}

static void test_bad_outer(void **state)
{
	const char *bodies[] = {
		"", "{", "[]", "null", "1", "\"x\"", "{}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\"}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\",\"x\":1}",
		"{\"v\":\"1\",\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":2,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":7}",
		"{\"v\":1,\"tenant\":\"alice\",\"tenant\":\"bob\","
		"\"instance\":\"web1\",\"vm\":\"vm-web1\","
		"\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"../alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web 1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"al\\u0000ice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"}",
		"{\"v\":1,\"tenant\":\"alice\",\"instance\":\"web1\","
		"\"vm\":\"vm-web1\",\"ciphertext\":\"AAAA\"} trailing",
	};
	struct answer an;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ask(bodies[i], &an);
		assert_refused(&an, 400, "bad_request");
		answer_free(&an);
	}
	/* A NUL byte inside the body. */
	static const char nul[] = "{\"v\":1,\0\"tenant\":\"alice\"}";
	ask_len(nul, sizeof(nul) - 1, &an);
	assert_refused(&an, 400, "bad_request");
	answer_free(&an);
	/* Over the limit: refused before parsing. */
	char *big = malloc(AGENT_BODY_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', AGENT_BODY_MAX + 1);
	ask_len(big, AGENT_BODY_MAX + 1, &an);
	assert_refused(&an, 413, "too_large");
	answer_free(&an);
	/* At the limit: parsed (and not JSON). */
	ask_len(big, AGENT_BODY_MAX, &an);
	assert_refused(&an, 400, "bad_request");
	answer_free(&an);
	free(big);
	/* Deep nesting. */
	char *deep = malloc(200001);
	assert_non_null(deep);
	memset(deep, '[', 200000);
	deep[200000] = '\0';
	ask(deep, &an);
	assert_refused(&an, 400, "bad_request");
	answer_free(&an);
	free(deep);
}

/* Random bodies and random mutations of a valid one: always an answer,
 * never a crash (ASan), a 200 only when it still opens. */
static void test_random_bodies(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct, *body;
	struct answer an;
	uint8_t buf[512];

	(void)state;
	for (int i = 0; i < 500; i++) {
		size_t n = randombytes_uniform(sizeof(buf));
		randombytes_buf(buf, n);
		ask_len((const char *)buf, n, &an);
		assert_true(an.status == 400);
		answer_free(&an);
	}
	ct = sealed_marker("alice", "web1", time(NULL), &F.alice, id);
	body = outer("alice", "web1", "vm-web1", ct);
	size_t len = strlen(body);
	char *m = malloc(len + 1);
	assert_non_null(m);
	for (int i = 0; i < 1500; i++) {
		memcpy(m, body, len + 1);
		for (int k = 0; k <= (int)randombytes_uniform(3); k++)
			m[randombytes_uniform((uint32_t)len)] =
				(char)randombytes_uniform(256);
		ask_len(m, len, &an);
		assert_true(an.status == 400 || an.status == 401 ||
			    an.status == 403 || an.status == 404 ||
			    an.status == 409 || an.status == 200);
		if (an.status != 200)
			assert_no_leak(&an, id);
		answer_free(&an);
	}
	free(m);
	free(body);
	free(ct);
}

struct worker {
	int ok;
	uint64_t addr;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	char addr[32], want[33], id[CVMI_ID_HEX + 1], err[256], *ct, *body;
	char *reply, *error;
	json_t *res, *j;
	int status;

	for (int i = 0; i < 40; i++) {
		uint64_t at = w->addr + (uint64_t)i * 4096;
		snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)at);
		json_t *args = read_args(addr, 16, true);
		if (cvmi_request_seal("alice", i % 2 ? "web1" : "web2", "read",
				      args, time(NULL), F.agent.pk,
				      F.alice.sk, id, &ct, err,
				      sizeof(err)) < 0) {
			json_decref(args);
			return NULL;
		}
		json_decref(args);
		body = outer("alice", i % 2 ? "web1" : "web2",
			     i % 2 ? "vm-web1" : "vm-web2", ct);
		free(ct);
		if (agent_handle_query(F.a, body, strlen(body), &reply,
				       &status, NULL) < 0 || status != 200) {
			free(body);
			return NULL;
		}
		free(body);
		j = json_loads(reply, 0, NULL);
		free(reply);
		res = NULL;
		error = NULL;
		if (!j || cvmi_response_open(
			    json_string_value(json_object_get(j, "ciphertext")),
			    id, i % 2 ? "web1" : "web2", F.agent.pk,
			    F.alice.sk, &res, &error, err, sizeof(err)) < 0) {
			json_decref(j);
			return NULL;
		}
		json_decref(j);
		for (size_t k = 0; k < 16; k++)
			snprintf(want + 2 * k, 3, "%02x",
				 ram_byte((size_t)at + k));
		const char *hex = json_string_value(json_object_get(res,
								    "hex"));
		if (!error && hex && !strcmp(hex, want))
			w->ok++;
		json_decref(res);
		free(error);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	pthread_t t[6];
	struct worker w[6];

	(void)state;
	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ 0, (uint64_t)i * 0x40000 };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]),
				 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].ok, 40);
	}
}

static void test_source_parse(void **state)
{
	struct agent_source s;
	char err[256];
	const char *bad[] = {
		"", "vsbd:", "vsbd:relative", "vsbd:/a b", "vsbd:/a:b",
		"qemu:/ram", "qemu:/ram:", "qemu:ram:/q", "qemu:/r:/q:/x",
		"core:", "ram:/r", "ram:/r:", "ram:/r:i440", "ram:rel:pc",
		"xen:/a", "VSBD:/a", "vsbd:/a\x01", "vsbd:/\xc3\xa9",
	};

	(void)state;
	assert_int_equal(agent_source_parse("vsbd:/run/vm1.ctl", &s, err,
					    sizeof(err)), 0);
	assert_int_equal(s.kind, AGENT_SRC_VSBD);
	assert_string_equal(s.path, "/run/vm1.ctl");
	assert_int_equal(agent_source_parse("qemu:/dev/shm/g:/run/g.qmp", &s,
					    err, sizeof(err)), 0);
	assert_int_equal(s.kind, AGENT_SRC_QEMU);
	assert_string_equal(s.path, "/dev/shm/g");
	assert_string_equal(s.qmp, "/run/g.qmp");
	assert_int_equal(agent_source_parse("core:/var/c.core", &s, err,
					    sizeof(err)), 0);
	assert_int_equal(s.kind, AGENT_SRC_CORE);
	assert_int_equal(agent_source_parse("ram:/dev/shm/g:q35", &s, err,
					    sizeof(err)), 0);
	assert_int_equal(s.kind, AGENT_SRC_RAM);
	assert_int_equal(s.machine, VMI_RAM_Q35);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (agent_source_parse(bad[i], &s, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted source #%zu", i);
		assert_true(err[0]);
	}
	/* A path as long as PATH_MAX allows, and one longer. */
	char *longp = malloc(PATH_MAX + 32);
	assert_non_null(longp);
	memcpy(longp, "core:/", 6);
	memset(longp + 6, 'a', PATH_MAX + 16);
	longp[5 + PATH_MAX] = '\0';
	assert_int_equal(agent_source_parse(longp, &s, err, sizeof(err)),
			 -EINVAL);
	longp[5 + PATH_MAX - 1] = '\0';
	assert_int_equal(agent_source_parse(longp, &s, err, sizeof(err)), 0);
	free(longp);
}

static void expect_parse_error(const char *text, const char *msg)
{
	struct agent_instance_conf *c;
	char err[256];
	size_t n;

	assert_int_not_equal(agent_instances_parse(text, strlen(text), &c, &n,
						   err, sizeof(err)), 0);
	assert_null(c);
	if (!strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
}

static void test_instances_parse(void **state)
{
	struct agent_instance_conf *c;
	char err[256];
	size_t n;
	const char *good = "# comment\n\n   \t\n  a t vm vsbd:/x\n"
			   "b\tt\tvm2\tcore:/y";

	(void)state;
	assert_int_equal(agent_instances_parse(good, strlen(good), &c, &n, err,
					       sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].name, "a");
	assert_string_equal(c[1].vm, "vm2");
	assert_string_equal(c[1].src.path, "/y");
	free(c);
	assert_int_equal(agent_instances_parse("", 0, &c, &n, err,
					       sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(c);

	expect_parse_error("a t vm\n", "line 1: too few fields");
	expect_parse_error("# x\na t vm vsbd:/x extra\n",
			   "line 2: too many fields");
	expect_parse_error("a t vm vsbd:/x\n.a t vm vsbd:/x\n",
			   "line 2: bad instance name");
	expect_parse_error("a -t vm vsbd:/x\n", "line 1: bad tenant name");
	expect_parse_error("a t v/m vsbd:/x\n", "line 1: bad VM name");
	expect_parse_error("a t vm vsbd:x\n", "line 1: source");
	expect_parse_error("a t vm vsbd:/x\n\na u vm core:/y\n",
			   "line 3: instance a is already");
	expect_parse_error("a t vm vsbd:/x\r\n", "line 1: a byte");
	expect_parse_error("a t vm vsbd:/\xff\n", "line 1: a byte");
	static const char withnul[] = "a t vm vsbd:/x\n\0\n";
	assert_int_equal(agent_instances_parse(withnul, sizeof(withnul) - 1,
					       &c, &n, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line 2"));

	/* A name of 65 characters; a line over the limit. */
	char line[AGENT_LINE_MAX + 64];
	memset(line, 'n', 65);
	snprintf(line + 65, sizeof(line) - 65, " t vm vsbd:/x\n");
	expect_parse_error(line, "line 1: bad instance name");
	memset(line, 'x', AGENT_LINE_MAX + 1);
	line[AGENT_LINE_MAX + 1] = '\0';
	expect_parse_error(line, "line 1: over");

	/* Too many instances. */
	size_t cap = (AGENT_MAX_INSTANCES + 2) * 24, len = 0;
	char *many = malloc(cap);
	assert_non_null(many);
	for (int i = 0; i <= AGENT_MAX_INSTANCES; i++)
		len += (size_t)snprintf(many + len, cap - len,
					"i%d t vm core:/c\n", i);
	assert_int_equal(agent_instances_parse(many, len, &c, &n, err,
					       sizeof(err)), -E2BIG);
	free(many);
}

/* State directories the agent refuses to serve from. */
static void test_bad_state(void **state)
{
	char st[256], p[300], p2[300], err[512];
	struct cvmi_keypair kp;
	struct agent *a;

	(void)state;
	snprintf(st, sizeof(st), "%s/bad", F.dir);
	assert_int_equal(mkdir(st, 0700), 0);
	/* No key. */
	assert_int_equal(agent_load(st, 60, &a, err, sizeof(err)) < 0, 1);
	assert_null(a);
	assert_non_null(strstr(err, "keygen"));
	snprintf(p, sizeof(p), "%s/agent.key", st);
	snprintf(p2, sizeof(p2), "%s/agent.pub", st);
	save_keys(p, p2, &kp);
	/* A bad skew. */
	assert_true(agent_load(st, 0, &a, err, sizeof(err)) < 0);
	/* No tenants, no instances: serves nothing, but loads. */
	assert_int_equal(agent_load(st, 60, &a, err, sizeof(err)), 0);
	assert_int_equal(agent_nr_instances(a), 0);
	agent_free(a);
	/* An instance of a tenant not enrolled. */
	snprintf(p, sizeof(p), "%s/instances", st);
	write_text(p, "web1 carol vm1 vsbd:/x\n");
	assert_true(agent_load(st, 60, &a, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "carol is not enrolled"));
	/* A malformed instances file: the message names the line. */
	write_text(p, "web1 carol vm1 vsbd:/x extra\n");
	assert_true(agent_load(st, 60, &a, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "line 1"));
	unlink(p);
	/* A stray file among the tenants' keys, then a bad key. */
	snprintf(p, sizeof(p), "%s/tenants", st);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/tenants/carol.key", st);
	write_text(p, "x\n");
	assert_true(agent_load(st, 60, &a, err, sizeof(err)) < 0);
	unlink(p);
	snprintf(p, sizeof(p), "%s/tenants/carol.pub", st);
	write_text(p, "cryptvmi-public-key-v1 AAAA\n");
	assert_true(agent_load(st, 60, &a, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "tenant carol"));
	unlink(p);
	/* A secret key others can read. */
	snprintf(p, sizeof(p), "%s/agent.key", st);
	assert_int_equal(chmod(p, 0644), 0);
	assert_true(agent_load(st, 60, &a, err, sizeof(err)) < 0);
	/* Nothing secret in any of these messages. */
	assert_false(contains_hex_or_b64(err, kp.sk));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phys_read),
		cmocka_unit_test(test_op_failures),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_relabelled),
		cmocka_unit_test(test_other_tenants_instance),
		cmocka_unit_test(test_vm_mismatch),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_malformed_plaintext),
		cmocka_unit_test(test_bad_outer),
		cmocka_unit_test(test_random_bodies),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_source_parse),
		cmocka_unit_test(test_instances_parse),
		cmocka_unit_test(test_bad_state),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
