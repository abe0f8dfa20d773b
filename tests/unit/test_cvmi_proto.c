/* Unit tests of the CryptVMI protocol library (cryptvmi/keys.c, proto.c,
 * replay.c): sealed requests and responses round-trip, and every attack
 * in PROTOCOL.md's table is refused at the library level (tampering,
 * truncation, wrong keys, relabelling, swapped or reflected responses,
 * replays, stale requests); key files are private, never overwritten
 * and parsed exactly; the plaintext parsers refuse anything but the
 * documented fields, types and ranges, with one-line messages. */
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "cryptvmi/proto.h"
#include "cryptvmi/proto_plain.h"

#define NOW 1795000000
#define B64 sodium_base64_VARIANT_ORIGINAL

struct world {
	struct cvmi_keypair alice, bob, agent, agent2;
	char dir[64];
};

static struct world w;

static void assert_one_line(const char *err)
{
	assert_true(err[0] != 0);
	for (const char *p = err; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(cvmi_init(), 0);
	cvmi_keygen(&w.alice);
	cvmi_keygen(&w.bob);
	cvmi_keygen(&w.agent);
	cvmi_keygen(&w.agent2);
	strcpy(w.dir, "/tmp/cvmi-test.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A request from alice to the agent; its id in id. */
static char *seal_req(const char *op, json_t *args, int64_t now, char *id)
{
	char err[256] = "", *ct = NULL;

	assert_int_equal(cvmi_request_seal("alice", "web1", op, args, now,
					   w.agent.pk, w.alice.sk, id, &ct,
					   err, sizeof(err)),
			 0);
	assert_non_null(ct);
	return ct;
}

static int open_req(const char *ct, const char *tenant, const char *inst,
		    const uint8_t *tenant_pk, const uint8_t *agent_sk,
		    struct cvmi_request *req)
{
	char err[256] = "";
	int ret = cvmi_request_open(ct, tenant, inst, tenant_pk, agent_sk, req,
				    err, sizeof(err));
	if (ret)
		assert_one_line(err);
	return ret;
}

/* Opens ct as the agent does for alice's web1. */
static int open_alice(const char *ct, struct cvmi_request *req)
{
	return open_req(ct, "alice", "web1", w.alice.pk, w.agent.sk, req);
}

/* The agent's response to req, sealed for alice; a refusal says why in
 * one line. */
static int seal_resp(const struct cvmi_request *req, json_t *result,
		     const char *error, int64_t now, char **rct)
{
	char err[256] = "";
	int ret = cvmi_response_seal(req, result, error, now, w.alice.pk,
				     w.agent.sk, rct, err, sizeof(err));

	if (ret)
		assert_one_line(err);
	return ret;
}

/* Opens a response as a tenant does; a refusal says why in one line. */
static int open_resp(const char *rct, const char *id, const char *inst,
		     const uint8_t *agent_pk, const uint8_t *tenant_sk,
		     json_t **got, char **aerr)
{
	char err[256] = "";
	int ret = cvmi_response_open(rct, id, inst, agent_pk, tenant_sk, got,
				     aerr, err, sizeof(err));

	if (ret)
		assert_one_line(err);
	return ret;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(cvmi_valid_name("alice"));
	assert_true(cvmi_valid_name("web-1.prod_A"));
	assert_true(cvmi_valid_name("0"));
	char longest[CVMI_NAME_MAX + 2];
	memset(longest, 'x', sizeof(longest));
	longest[CVMI_NAME_MAX] = 0;
	assert_true(cvmi_valid_name(longest));
	longest[CVMI_NAME_MAX] = 'x';
	longest[CVMI_NAME_MAX + 1] = 0;
	assert_false(cvmi_valid_name(longest));
	assert_false(cvmi_valid_name(NULL));
	assert_false(cvmi_valid_name(""));
	assert_false(cvmi_valid_name(".hidden"));
	assert_false(cvmi_valid_name("-opt"));
	assert_false(cvmi_valid_name("../x"));
	assert_false(cvmi_valid_name("a b"));
	assert_false(cvmi_valid_name("a/b"));
	assert_false(cvmi_valid_name("caf\xc3\xa9"));
	assert_false(cvmi_valid_name("a\n"));
	assert_true(cvmi_valid_id("0123456789abcdef0123456789abcdef"));
	assert_false(cvmi_valid_id("0123456789ABCDEF0123456789abcdef"));
	assert_false(cvmi_valid_id("0123456789abcdef0123456789abcde"));
	assert_false(cvmi_valid_id("0123456789abcdef0123456789abcdef0"));
	assert_false(cvmi_valid_id("0123456789abcdeg0123456789abcdef"));
	assert_false(cvmi_valid_id(NULL));
}

static void test_request_round_trip(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct;
	struct cvmi_request req;
	json_t *args = json_pack("{s:s, s:i, s:i}", "addr", "0xffff888000001000",
				 "len", 4096, "pid", 1);

	(void)state;
	ct = seal_req("read", args, NOW, id);
	assert_true(cvmi_valid_id(id));
	assert_int_equal(open_alice(ct, &req), 0);
	assert_int_equal(req.version, 1);
	assert_string_equal(req.tenant, "alice");
	assert_string_equal(req.instance, "web1");
	assert_string_equal(req.id, id);
	assert_int_equal(req.ts, NOW);
	assert_string_equal(req.op, "read");
	assert_true(json_equal(req.args, args));
	cvmi_request_clear(&req);
	assert_null(req.args);
	cvmi_request_clear(&req);
	free(ct);
	json_decref(args);

	/* NULL args are {}; every argument-less op. */
	static const char *const bare[] = { "info", "ps", "lsmod", "pause",
					    "resume" };
	for (size_t i = 0; i < 5; i++) {
		ct = seal_req(bare[i], NULL, NOW, id);
		assert_int_equal(open_alice(ct, &req), 0);
		assert_string_equal(req.op, bare[i]);
		assert_true(json_is_object(req.args));
		assert_int_equal(json_object_size(req.args), 0);
		cvmi_request_clear(&req);
		free(ct);
	}
	args = json_pack("{s:i}", "vcpu", 8191);
	ct = seal_req("regs", args, NOW, id);
	assert_int_equal(open_alice(ct, &req), 0);
	cvmi_request_clear(&req);
	free(ct);
	json_decref(args);
}

static void test_response_round_trip(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct, *rct, *aerr;
	struct cvmi_request req;
	json_t *result, *got;

	(void)state;
	ct = seal_req("ps", NULL, NOW, id);
	assert_int_equal(open_alice(ct, &req), 0);
	result = json_pack("{s:[{s:i, s:s}]}", "processes", "pid", 1, "comm",
			   "init");
	assert_int_equal(seal_resp(&req, result, NULL, NOW + 1, &rct), 0);
	assert_int_equal(open_resp(rct, id, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), 0);
	assert_null(aerr);
	assert_true(json_equal(got, result));
	json_decref(got);
	free(rct);

	/* An array result. */
	json_t *arr = json_pack("[i, i]", 1, 2);
	assert_int_equal(seal_resp(&req, arr, NULL, NOW, &rct), 0);
	assert_int_equal(open_resp(rct, id, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), 0);
	assert_true(json_equal(got, arr));
	json_decref(got);
	json_decref(arr);
	free(rct);

	/* An error. */
	assert_int_equal(seal_resp(&req, NULL, "vCPU 9 does not exist", NOW,
				   &rct), 0);
	assert_int_equal(open_resp(rct, id, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), 0);
	assert_null(got);
	assert_string_equal(aerr, "vCPU 9 does not exist");
	free(aerr);
	free(rct);

	/* Neither or both; a result that is not an object or array; error
	 * text that is not UTF-8. */
	json_t *num = json_integer(3);
	assert_int_equal(seal_resp(&req, NULL, NULL, NOW, &rct), -EINVAL);
	assert_null(rct);
	assert_int_equal(seal_resp(&req, result, "x", NOW, &rct), -EINVAL);
	assert_int_equal(seal_resp(&req, num, NULL, NOW, &rct), -EINVAL);
	assert_int_equal(seal_resp(&req, NULL, "bad \xff", NOW, &rct), -EINVAL);
	json_decref(num);
	json_decref(result);
	cvmi_request_clear(&req);
	free(ct);
}

/* Same plaintext twice: different ciphertexts, since the nonces differ. */
static void test_random_nonce(void **state)
{
	struct cvmi_request req = { .version = 1, .tenant = "alice",
				    .instance = "web1",
				    .id = "00112233445566778899aabbccddeeff",
				    .op = "ps" };
	char *a, *b;
	unsigned char ba[256], bb[256];
	size_t la, lb;
	json_t *res = json_object();

	(void)state;
	assert_int_equal(seal_resp(&req, res, NULL, NOW, &a), 0);
	assert_int_equal(seal_resp(&req, res, NULL, NOW, &b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(sodium_base642bin(ba, sizeof(ba), a, strlen(a), NULL,
					   &la, NULL, B64),
			 0);
	assert_int_equal(sodium_base642bin(bb, sizeof(bb), b, strlen(b), NULL,
					   &lb, NULL, B64),
			 0);
	assert_int_equal(la, lb);
	assert_memory_not_equal(ba, bb, crypto_box_NONCEBYTES);
	free(a);
	free(b);
	json_decref(res);
}

static char *b64(const unsigned char *bin, size_t len)
{
	size_t n = sodium_base64_encoded_len(len, B64);
	char *s = malloc(n);

	assert_non_null(s);
	sodium_bin2base64(s, n, bin, len, B64);
	return s;
}

/* Flipping any bit of any byte, of the base64 text or of the bytes it
 * encodes, makes the request not open. */
static void test_tampered(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct = seal_req("info", NULL, NOW, id);
	size_t n = strlen(ct), blen;
	unsigned char *bin = malloc(n);
	struct cvmi_request req;

	(void)state;
	assert_int_equal(sodium_base642bin(bin, n, ct, n, NULL, &blen, NULL,
					   B64),
			 0);
	for (size_t i = 0; i < blen; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			char *t;

			bin[i] ^= (unsigned char)(1 << bit);
			t = b64(bin, blen);
			assert_int_equal(open_alice(t, &req), -EBADMSG);
			assert_null(req.args);
			free(t);
			bin[i] ^= (unsigned char)(1 << bit);
		}
	}
	for (size_t i = 0; i < n; i++) {
		char c = ct[i];

		ct[i] = c == 'A' ? 'B' : c == '=' ? 'A' : 'A';
		assert_int_equal(open_alice(ct, &req), -EBADMSG);
		ct[i] = c;
	}
	/* Untouched, it still opens. */
	assert_int_equal(open_alice(ct, &req), 0);
	cvmi_request_clear(&req);
	free(bin);
	free(ct);
}

static void test_truncated(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct = seal_req("info", NULL, NOW, id);
	size_t n = strlen(ct), blen;
	unsigned char *bin = malloc(n);
	struct cvmi_request req;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char c = ct[i];

		ct[i] = 0;
		assert_int_equal(open_alice(ct, &req), -EBADMSG);
		ct[i] = c;
	}
	/* Truncated bytes, well encoded. */
	assert_int_equal(sodium_base642bin(bin, n, ct, n, NULL, &blen, NULL,
					   B64),
			 0);
	for (size_t l = 0; l < blen; l++) {
		char *t = b64(bin, l);

		assert_int_equal(open_alice(t, &req), -EBADMSG);
		free(t);
	}
	/* Garbage and excess. */
	assert_int_equal(open_alice(NULL, &req), -EBADMSG);
	char *junk = malloc(n + 8);
	snprintf(junk, n + 8, "%s====", ct);
	assert_int_equal(open_alice(junk, &req), -EBADMSG);
	snprintf(junk, n + 8, " %s", ct);
	assert_int_equal(open_alice(junk, &req), -EBADMSG);
	free(junk);
	free(bin);
	free(ct);
}

/* Longer than any sealed plaintext could make it: refused unread. */
static void test_oversized(void **state)
{
	size_t max = sodium_base64_ENCODED_LEN(
		crypto_box_NONCEBYTES + crypto_box_MACBYTES + CVMI_PLAIN_MAX,
		B64);
	char *big = malloc(max + 2);
	struct cvmi_request req;
	char err[256];

	(void)state;
	memset(big, 'A', max + 1);
	big[max + 1] = 0;
	assert_int_equal(cvmi_request_open(big, "alice", "web1", w.alice.pk,
					   w.agent.sk, &req, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "over"));
	free(big);

	/* A response over CVMI_PLAIN_MAX is not sealed. */
	struct cvmi_request r = { .version = 1, .instance = "web1",
				  .id = "00112233445566778899aabbccddeeff" };
	char *s = malloc(CVMI_PLAIN_MAX + 1), *ct;
	memset(s, 'x', CVMI_PLAIN_MAX);
	s[CVMI_PLAIN_MAX] = 0;
	json_t *res = json_pack("{s:s}", "data", s);
	assert_int_equal(seal_resp(&r, res, NULL, NOW, &ct), -EMSGSIZE);
	assert_null(ct);
	json_decref(res);
	free(s);
}

static void test_wrong_keys(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct = seal_req("ps", NULL, NOW, id);
	struct cvmi_request req;

	(void)state;
	/* Sealed for another agent. */
	assert_int_equal(open_req(ct, "alice", "web1", w.alice.pk, w.agent2.sk,
				  &req),
			 -EBADMSG);
	/* Relabelled as bob's: the agent uses bob's key, and it does not
	 * open. */
	assert_int_equal(open_req(ct, "bob", "web1", w.bob.pk, w.agent.sk,
				  &req),
			 -EBADMSG);
	/* Forged by bob under alice's name. */
	char err[256], *forged;
	assert_int_equal(cvmi_request_seal("alice", "web1", "ps", NULL, NOW,
					   w.agent.pk, w.bob.sk, id, &forged,
					   err, sizeof(err)),
			 0);
	assert_int_equal(open_alice(forged, &req), -EBADMSG);
	free(forged);
	free(ct);
}

static void test_relabelled(void **state)
{
	char id[CVMI_ID_HEX + 1], *ct = seal_req("ps", NULL, NOW, id);
	struct cvmi_request req;

	(void)state;
	/* Another instance of the same tenant. */
	assert_int_equal(open_req(ct, "alice", "db1", w.alice.pk, w.agent.sk,
				  &req),
			 -EPERM);
	assert_null(req.args);
	/* Another tenant name enrolled with the same key: the box opens,
	 * the binding does not. */
	assert_int_equal(open_req(ct, "alice2", "web1", w.alice.pk,
				  w.agent.sk, &req),
			 -EPERM);
	assert_int_equal(open_req(ct, NULL, "web1", w.alice.pk, w.agent.sk,
				  &req),
			 -EPERM);
	assert_int_equal(open_req(ct, "alice", NULL, w.alice.pk, w.agent.sk,
				  &req),
			 -EPERM);
	free(ct);
}

static void test_response_swapped(void **state)
{
	char id1[CVMI_ID_HEX + 1], id2[CVMI_ID_HEX + 1], *aerr;
	char *c1 = seal_req("ps", NULL, NOW, id1);
	char *c2 = seal_req("lsmod", NULL, NOW, id2);
	struct cvmi_request r1;
	json_t *res = json_object(), *got;
	char *rct;

	(void)state;
	assert_int_equal(open_alice(c1, &r1), 0);
	assert_int_equal(seal_resp(&r1, res, NULL, NOW, &rct), 0);
	/* Answer to request 1 handed back for request 2. */
	assert_int_equal(open_resp(rct, id2, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), -EPERM);
	assert_null(got);
	assert_null(aerr);
	/* From another instance. */
	assert_int_equal(open_resp(rct, id1, "db1", w.agent.pk, w.alice.sk,
				   &got, &aerr), -EPERM);
	/* Forged by another agent; opened by another tenant. */
	assert_int_equal(open_resp(rct, id1, "web1", w.agent2.pk, w.alice.sk,
				   &got, &aerr), -EBADMSG);
	assert_int_equal(open_resp(rct, id1, "web1", w.agent.pk, w.bob.sk, &got,
				   &aerr), -EBADMSG);
	/* Reflected: crypto_box's key is the same both ways, so the
	 * tenant's own request opens; its type refuses it, both ways. */
	assert_int_equal(open_resp(c1, id1, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), -EPROTO);
	struct cvmi_request rr;
	assert_int_equal(open_alice(rct, &rr), -EPROTO);
	assert_int_equal(open_resp(rct, id1, "web1", w.agent.pk, w.alice.sk,
				   &got, &aerr), 0);
	json_decref(got);
	cvmi_request_clear(&r1);
	json_decref(res);
	free(rct);
	free(c1);
	free(c2);
}

static void test_seal_refusals(void **state)
{
	char id[CVMI_ID_HEX + 1] = "", err[256], *ct;
	json_t *a;

	(void)state;
#define SEAL(t, i, op, args)                                                 \
	cvmi_request_seal(t, i, op, args, NOW, w.agent.pk, w.alice.sk, id, &ct, \
			  err, sizeof(err))
	assert_int_equal(SEAL("bad name", "web1", "ps", NULL), -EINVAL);
	assert_null(ct);
	assert_one_line(err);
	assert_int_equal(SEAL("alice", ".web1", "ps", NULL), -EINVAL);
	assert_int_equal(SEAL("alice", "web1", "shutdown", NULL), -EINVAL);
	assert_int_equal(SEAL("alice", "web1", NULL, NULL), -EINVAL);
	a = json_array();
	assert_int_equal(SEAL("alice", "web1", "ps", a), -EINVAL);
	json_decref(a);
	a = json_pack("{s:i}", "x", 1);
	assert_int_equal(SEAL("alice", "web1", "ps", a), -EINVAL);
	assert_non_null(strstr(err, "\"x\""));
	json_decref(a);
	a = json_pack("{s:s, s:i}", "addr", "0x10", "len", 1048577);
	assert_int_equal(SEAL("alice", "web1", "read", a), -EINVAL);
	assert_non_null(strstr(err, "len"));
	json_decref(a);
	assert_int_equal(cvmi_request_seal("alice", "web1", "ps", NULL, -1,
					   w.agent.pk, w.alice.sk, id, &ct, err,
					   sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "ts"));
	assert_string_equal(id, "");
#undef SEAL
}

/* ---- replay cache ---- */

static const char *hexid(unsigned n, char buf[CVMI_ID_HEX + 1])
{
	snprintf(buf, CVMI_ID_HEX + 1, "%032x", n);
	return buf;
}

static void test_replay(void **state)
{
	struct cvmi_replay *r = cvmi_replay_new(NOW, 60, 100);
	char a[CVMI_ID_HEX + 1];

	(void)state;
	assert_non_null(r);
	hexid(1, a);
	assert_int_equal(cvmi_replay_check(r, "alice", a, NOW, NOW), 0);
	assert_int_equal(cvmi_replay_check(r, "alice", a, NOW, NOW), -EALREADY);
	assert_int_equal(cvmi_replay_check(r, "alice", a, NOW + 5, NOW + 10),
			 -EALREADY);
	/* The same id is another request for another tenant. */
	assert_int_equal(cvmi_replay_check(r, "bob", a, NOW, NOW), 0);
	/* Out of the window, either way; the edges are in. */
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(2, a), NOW + 100,
					   NOW + 161),
			 -ETIME);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(3, a), NOW + 222,
					   NOW + 161),
			 -ETIME);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(4, a), NOW + 100,
					   NOW + 160),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(5, a), NOW + 220,
					   NOW + 160),
			 0);
	/* Before the cache existed, even within the window. */
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(6, a), NOW - 1,
					   NOW),
			 -ETIME);
	/* Absurd times do not overflow into the window. */
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(7, a), INT64_MAX,
					   NOW),
			 -ETIME);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(8, a), NOW,
					   INT64_MIN),
			 -ETIME);
	/* Bad arguments. */
	assert_int_equal(cvmi_replay_check(r, "al ice", hexid(9, a), NOW, NOW),
			 -EINVAL);
	assert_int_equal(cvmi_replay_check(r, "alice", "xyz", NOW, NOW),
			 -EINVAL);
	cvmi_replay_free(r);
	assert_null(cvmi_replay_new(NOW, 60, 0));
	assert_null(cvmi_replay_new(NOW, -1, 10));
}

static void test_replay_expiry_and_limit(void **state)
{
	struct cvmi_replay *r = cvmi_replay_new(NOW, 60, 3);
	char a[CVMI_ID_HEX + 1];

	(void)state;
	/* Accepted at NOW with ts NOW + 60: still acceptable at NOW + 120,
	 * so remembered until then. */
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(1, a), NOW + 60,
					   NOW),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(2, a), NOW, NOW),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(3, a), NOW + 10,
					   NOW + 10),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(4, a), NOW + 10,
					   NOW + 10),
			 -ENOSPC);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(1, a), NOW + 60,
					   NOW + 120),
			 -EALREADY);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(4, a), NOW + 120,
					   NOW + 120),
			 -ENOSPC);
	/* After 2 * skew the first two are forgotten, the third not. */
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(4, a), NOW + 121,
					   NOW + 121),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(1, a), NOW + 121,
					   NOW + 121),
			 0);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(5, a), NOW + 121,
					   NOW + 121),
			 -ENOSPC);
	assert_int_equal(cvmi_replay_check(r, "alice", hexid(3, a), NOW + 121,
					   NOW + 121),
			 -EALREADY);
	/* Long after, everything is forgotten; the ring wraps. */
	for (unsigned i = 0; i < 30; i++) {
		int64_t t = NOW + 1000 + 200 * (i / 3);

		assert_int_equal(cvmi_replay_check(r, "alice", hexid(100 + i, a),
						   t, t),
				 0);
		assert_int_equal(cvmi_replay_check(r, "alice", hexid(100 + i, a),
						   t, t),
				 -EALREADY);
	}
	cvmi_replay_free(r);
}

#define THREADS 4
#define PER_THREAD 2000
#define SHARED 500

struct worker {
	struct cvmi_replay *r;
	int n;
	int own_ok, shared_ok, bad;
};

static void *worker(void *arg)
{
	struct worker *wk = arg;
	char id[CVMI_ID_HEX + 1];

	for (int i = 0; i < PER_THREAD; i++) {
		int ret;

		hexid((unsigned)(wk->n + 1) << 20 | (unsigned)i, id);
		ret = cvmi_replay_check(wk->r, "alice", id, NOW, NOW);
		wk->own_ok += ret == 0;
		wk->bad += ret != 0;
		if (i < SHARED) {
			hexid((unsigned)i, id);
			ret = cvmi_replay_check(wk->r, "bob", id, NOW, NOW);
			wk->shared_ok += ret == 0;
			wk->bad += ret != 0 && ret != -EALREADY;
		}
	}
	return NULL;
}

static void test_replay_threads(void **state)
{
	struct cvmi_replay *r = cvmi_replay_new(NOW, 60, 100000);
	struct worker wk[THREADS];
	pthread_t t[THREADS];
	int shared = 0;

	(void)state;
	for (int i = 0; i < THREADS; i++) {
		wk[i] = (struct worker){ .r = r, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &wk[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(wk[i].own_ok, PER_THREAD);
		assert_int_equal(wk[i].bad, 0);
		shared += wk[i].shared_ok;
	}
	/* Each shared id accepted exactly once among all threads. */
	assert_int_equal(shared, SHARED);
	cvmi_replay_free(r);
}

/* ---- key files ---- */

static void path(char *buf, const char *name)
{
	snprintf(buf, 128, "%s/%s", w.dir, name);
}

static void write_file(const char *p, mode_t mode, const char *text)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *read_text(const char *p)
{
	static char buf[512];
	FILE *f = fopen(p, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void test_key_files(void **state)
{
	char sp[128], pp[128], err[256];
	struct cvmi_keypair kp;
	uint8_t pk[CVMI_KEY_BYTES];
	struct stat st;
	mode_t old = umask(0277);	/* would leave 0400: saving sets 0600 */

	(void)state;
	path(sp, "alice.key");
	path(pp, "alice.pub");
	assert_int_equal(cvmi_key_save(sp, pp, &w.alice, err, sizeof(err)), 0);
	umask(old);
	assert_int_equal(stat(sp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	const char *text = read_text(sp);
	assert_int_equal(strncmp(text, "cryptvmi-secret-key-v1 ", 23), 0);
	assert_int_equal(strlen(text), 23 + 88 + 1);
	assert_int_equal(text[strlen(text) - 1], '\n');
	text = read_text(pp);
	assert_int_equal(strncmp(text, "cryptvmi-public-key-v1 ", 23), 0);
	assert_int_equal(strlen(text), 23 + 44 + 1);

	assert_int_equal(cvmi_key_load_secret(sp, &kp, err, sizeof(err)), 0);
	assert_memory_equal(kp.sk, w.alice.sk, CVMI_KEY_BYTES);
	assert_memory_equal(kp.pk, w.alice.pk, CVMI_KEY_BYTES);
	assert_int_equal(cvmi_key_load_public(pp, pk, err, sizeof(err)), 0);
	assert_memory_equal(pk, w.alice.pk, CVMI_KEY_BYTES);

	/* Never overwritten, either file; a failed save leaves nothing. */
	assert_int_equal(cvmi_key_save(sp, NULL, &w.bob, err, sizeof(err)),
			 -EEXIST);
	assert_one_line(err);
	assert_int_equal(cvmi_key_load_secret(sp, &kp, err, sizeof(err)), 0);
	assert_memory_equal(kp.sk, w.alice.sk, CVMI_KEY_BYTES);
	char sp2[128];
	path(sp2, "bob.key");
	assert_int_equal(cvmi_key_save(sp2, pp, &w.bob, err, sizeof(err)),
			 -EEXIST);
	assert_int_equal(access(sp2, F_OK), -1);
	assert_int_equal(cvmi_key_load_public(pp, pk, err, sizeof(err)), 0);
	assert_memory_equal(pk, w.alice.pk, CVMI_KEY_BYTES);

	/* Readable by others: refused, whatever it holds. */
	assert_int_equal(chmod(sp, 0644), 0);
	assert_int_equal(cvmi_key_load_secret(sp, &kp, err, sizeof(err)),
			 -EACCES);
	assert_one_line(err);
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(chmod(sp, 0640), 0);
	assert_int_equal(cvmi_key_load_secret(sp, &kp, err, sizeof(err)),
			 -EACCES);
	assert_int_equal(chmod(sp, 0400), 0);
	assert_int_equal(cvmi_key_load_secret(sp, &kp, err, sizeof(err)), 0);

	/* Missing files; a directory. */
	path(sp2, "none.key");
	assert_int_equal(cvmi_key_load_secret(sp2, &kp, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(cvmi_key_load_public(w.dir, pk, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(cvmi_key_save(sp2, NULL, &w.bob, err, sizeof(err)), 0);
	assert_int_equal(cvmi_key_load_secret(sp2, &kp, err, sizeof(err)), 0);
	assert_memory_equal(kp.pk, w.bob.pk, CVMI_KEY_BYTES);
}

static void test_key_malformed(void **state)
{
	char p[128], err[256], line[256], good_pub[128], *pub;
	unsigned char both[64];
	char b64both[100], b64pub[60];
	struct cvmi_keypair kp;
	uint8_t pk[CVMI_KEY_BYTES];

	(void)state;
	memcpy(both, w.bob.sk, 32);
	memcpy(both + 32, w.bob.pk, 32);
	sodium_bin2base64(b64both, sizeof(b64both), both, 64, B64);
	sodium_bin2base64(b64pub, sizeof(b64pub), w.bob.pk, 32, B64);
	pub = cvmi_key_format_public(w.bob.pk);
	snprintf(good_pub, sizeof(good_pub), "cryptvmi-public-key-v1 %s",
		 b64pub);
	assert_string_equal(pub, good_pub);
	free(pub);

	/* Good, with and without the newline. */
	path(p, "m.key");
	snprintf(line, sizeof(line), "cryptvmi-secret-key-v1 %s\n", b64both);
	write_file(p, 0600, line);
	assert_int_equal(cvmi_key_load_secret(p, &kp, err, sizeof(err)), 0);
	snprintf(line, sizeof(line), "cryptvmi-secret-key-v1 %s", b64both);
	write_file(p, 0600, line);
	assert_int_equal(cvmi_key_load_secret(p, &kp, err, sizeof(err)), 0);
	assert_int_equal(cvmi_key_parse_public(good_pub, pk, err, sizeof(err)),
			 0);
	assert_memory_equal(pk, w.bob.pk, CVMI_KEY_BYTES);

	const char *bad_secret[] = {
		"",
		"\n",
		"cryptvmi-secret-key-v1\n",
		"cryptvmi-secret-key-v1 \n",
		"cryptvmi-secret-key-v2 %s\n",
		"cryptvmi-secret-key-v1  %s\n",
		"cryptvmi-secret-key-v1\t%s\n",
		" cryptvmi-secret-key-v1 %s\n",
		"cryptvmi-secret-key-v1 %s \n",
		"cryptvmi-secret-key-v1 %s\r\n",
		"cryptvmi-secret-key-v1 %s\n\n",
		"cryptvmi-secret-key-v1 %s\n# comment\n",
		"cryptvmi-secret-key-v1 %s\ncryptvmi-secret-key-v1 %s\n",
		"cryptvmi-secret-key-v1 %.84s\n",
		"cryptvmi-secret-key-v1 %sAAAA\n",
		"cryptvmi-secret-key-v1 %.86s!=\n",
		"cryptvmi-secret-key-v1 %.85sB==\n",	/* non-canonical */
		"cryptvmi-public-key-v1 %s\n",
		"CRYPTVMI-SECRET-KEY-V1 %s\n",
	};
	for (size_t i = 0; i < sizeof(bad_secret) / sizeof(*bad_secret); i++) {
		snprintf(line, sizeof(line), bad_secret[i], b64both, b64both);
		write_file(p, 0600, line);
		assert_int_equal(cvmi_key_load_secret(p, &kp, err, sizeof(err)),
				 -EINVAL);
		assert_one_line(err);
	}
	/* A public half that is not the secret one's. */
	memcpy(both + 32, w.alice.pk, 32);
	sodium_bin2base64(b64both, sizeof(b64both), both, 64, B64);
	snprintf(line, sizeof(line), "cryptvmi-secret-key-v1 %s\n", b64both);
	write_file(p, 0600, line);
	assert_int_equal(cvmi_key_load_secret(p, &kp, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "does not match"));
	sodium_memzero(both, sizeof(both));
	/* A huge file. */
	char *huge = malloc(100000);
	memset(huge, 'A', 99999);
	huge[99999] = 0;
	write_file(p, 0600, huge);
	free(huge);
	assert_int_equal(cvmi_key_load_secret(p, &kp, err, sizeof(err)),
			 -EINVAL);

	const char *bad_public[] = {
		"",
		"cryptvmi-public-key-v1",
		"cryptvmi-public-key-v1 ",
		"cryptvmi-public-key-v1 %s\n\n",
		"cryptvmi-public-key-v1 %s \n",
		"cryptvmi-public-key-v1 %.40s\n",
		"cryptvmi-public-key-v1 %.42s!=\n",
		"cryptvmi-public-key-v1 %.42sB=\n",	/* non-canonical */
		"cryptvmi-public-key-v1 %s%s\n",
		"cryptvmi-secret-key-v1 %s\n",
		"ssh-ed25519 %s\n",
		"cryptvmi-public-key-v1 %.43s\xff\n",
	};
	path(p, "m.pub");
	for (size_t i = 0; i < sizeof(bad_public) / sizeof(*bad_public); i++) {
		snprintf(line, sizeof(line), bad_public[i], b64pub, b64pub);
		write_file(p, 0644, line);
		assert_int_equal(cvmi_key_load_public(p, pk, err, sizeof(err)),
				 -EINVAL);
		assert_one_line(err);
		assert_int_equal(cvmi_key_parse_public(line, pk, err,
						       sizeof(err)),
				 -EINVAL);
		assert_one_line(err);
	}
	assert_int_equal(cvmi_key_parse_public(NULL, pk, err, sizeof(err)),
			 -EINVAL);
}

static void test_fingerprint(void **state)
{
	char fp[48], fp2[48], small[10];

	(void)state;
	cvmi_key_fingerprint(w.alice.pk, fp, sizeof(fp));
	assert_int_equal(strlen(fp), 47);
	for (int i = 0; i < 47; i++)
		assert_true(i % 3 == 2 ? fp[i] == ':'
				       : strchr("0123456789abcdef", fp[i]) != NULL);
	cvmi_key_fingerprint(w.alice.pk, fp2, sizeof(fp2));
	assert_string_equal(fp, fp2);
	cvmi_key_fingerprint(w.bob.pk, fp2, sizeof(fp2));
	assert_string_not_equal(fp, fp2);
	cvmi_key_fingerprint(w.alice.pk, small, sizeof(small));
	assert_int_equal(strlen(small), 8);
	assert_int_equal(strncmp(small, fp, 8), 0);
}

/* ---- plaintext parsers ---- */

#define REQ_HEAD "\"v\":1,\"type\":\"request\",\"tenant\":\"alice\",\"instance\":\"web1\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1795000000"

struct bad {
	const char *json;
	const char *needle;	/* in the message */
};

/* A plaintext parser that checks a refusal left nothing to free. */
typedef int parse_fn(const char *json, size_t len, char *err, size_t errlen);

static int parse_request(const char *json, size_t len, char *err,
			 size_t errlen)
{
	struct cvmi_request req;
	int ret = cvmi_request_parse_plain(json, len, &req, err, errlen);

	if (ret)
		assert_null(req.args);
	else
		cvmi_request_clear(&req);
	return ret;
}

static int parse_response(const char *json, size_t len, char *err,
			  size_t errlen)
{
	struct cvmi_response resp;
	int ret = cvmi_response_parse_plain(json, len, &resp, err, errlen);

	if (ret) {
		assert_null(resp.result);
		assert_null(resp.error);
	} else {
		cvmi_response_clear(&resp);
	}
	return ret;
}

/* Each of bad[0..n) refused as -EPROTO, with its needle in a one-line
 * message. */
static void expect_bad(const struct bad *bad, size_t n, parse_fn *parse)
{
	char err[256];

	for (size_t i = 0; i < n; i++) {
		err[0] = 0;
		int ret = parse(bad[i].json, strlen(bad[i].json), err,
				sizeof(err));
		if (ret != -EPROTO || !strstr(err, bad[i].needle))
			fail_msg("case %zu: %d \"%s\"", i, ret, err);
		assert_one_line(err);
	}
}

static void test_request_plain(void **state)
{
	static const struct bad bad[] = {
		{ "", "empty" },
		{ "[]", "not a JSON object" },
		{ "\"x\"", "bad JSON" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{}} x", "bad JSON" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{},\"extra\":1}", "\"extra\"" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{},\"op\":\"ps\"}", "bad JSON" },
		{ "{" REQ_HEAD ",\"op\":\"ps\"}", "\"args\"" },
		{ "{" REQ_HEAD ",\"args\":{}}", "\"op\"" },
		{ "{\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "\"v\"" },
		{ "{\"v\":2,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "v must" },
		{ "{\"v\":1.0,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "v must" },
		{ "{\"v\":\"1\",\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "v must" },
		{ "{\"v\":1,\"type\":\"response\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "type" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a b\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "tenant" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\\u0000b\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "bad JSON" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":7,\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "tenant" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"-b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "instance" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"a1234567890123456789012345678901234567890123456789012345678901234\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "instance" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899AABBCCDDEEFF\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "id" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"0011\",\"ts\":1,\"op\":\"ps\",\"args\":{}}", "id" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":-1,\"op\":\"ps\",\"args\":{}}", "ts" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":1.5,\"op\":\"ps\",\"args\":{}}", "ts" },
		{ "{\"v\":1,\"type\":\"request\",\"tenant\":\"a\",\"instance\":\"b\",\"id\":\"00112233445566778899aabbccddeeff\",\"ts\":\"1\",\"op\":\"ps\",\"args\":{}}", "ts" },
		{ "{" REQ_HEAD ",\"op\":\"reboot\",\"args\":{}}", "op" },
		{ "{" REQ_HEAD ",\"op\":\"PS\",\"args\":{}}", "op" },
		{ "{" REQ_HEAD ",\"op\":[\"ps\"],\"args\":{}}", "op" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":[]}", "args" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":null}", "args" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{\"all\":true}}", "\"all\"" },
		{ "{" REQ_HEAD ",\"op\":\"info\",\"args\":{\"x\":1}}", "info args" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x1000\"}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":4096,\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"4096\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0X10\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x1g\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10000000000000000\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\" 0x10\",\"len\":1}}", "addr" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":0}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1048577}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":-1}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":\"16\"}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":16.0}}", "len" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0xffffffffffffffff\",\"len\":2}}", "2^64" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"pid\":-1}}", "pid" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"pid\":\"1\"}}", "pid" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"pid\":2147483648}}", "pid" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"phys\":1}}", "phys" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"phys\":true,\"pid\":1}}", "pid and phys" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"size\":1}}", "\"size\"" },
		{ "{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x10\",\"len\":1,\"len\":2}}", "bad JSON" },
		{ "{" REQ_HEAD ",\"op\":\"regs\",\"args\":{}}", "vcpu" },
		{ "{" REQ_HEAD ",\"op\":\"regs\",\"args\":{\"vcpu\":8192}}", "vcpu" },
		{ "{" REQ_HEAD ",\"op\":\"regs\",\"args\":{\"vcpu\":-1}}", "vcpu" },
		{ "{" REQ_HEAD ",\"op\":\"regs\",\"args\":{\"vcpu\":\"0\"}}", "vcpu" },
		{ "{" REQ_HEAD ",\"op\":\"regs\",\"args\":{\"vcpu\":0,\"cpu\":0}}", "\"cpu\"" },
		{ "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{},\"\\nevil\\u0001\":1}", "unknown field" },
	};
	struct cvmi_request req;
	char err[256];

	(void)state;
	expect_bad(bad, sizeof(bad) / sizeof(bad[0]), parse_request);
	/* Bytes after a NUL, and a length past the limit. */
	const char *good = "{" REQ_HEAD ",\"op\":\"ps\",\"args\":{}}";
	char buf[512];
	size_t n = strlen(good);
	memcpy(buf, good, n + 1);
	assert_int_equal(cvmi_request_parse_plain(buf, n, &req, err,
						  sizeof(err)),
			 0);
	cvmi_request_clear(&req);
	assert_int_equal(cvmi_request_parse_plain(buf, n + 1, &req, err,
						  sizeof(err)),
			 -EPROTO);
	assert_int_equal(cvmi_request_parse_plain(buf, CVMI_PLAIN_MAX + 1, &req,
						  err, sizeof(err)),
			 -EPROTO);

	/* The good ones. */
	static const char *const goods[] = {
		"{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0xFFFFffff81000000\",\"len\":1048576}}",
		"{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0x0\",\"len\":1,\"phys\":true}}",
		"{" REQ_HEAD ",\"op\":\"read\",\"args\":{\"addr\":\"0xfffffffffffff000\",\"len\":4096,\"pid\":0,\"phys\":false}}",
		"{" REQ_HEAD ",\"op\":\"regs\",\"args\":{\"vcpu\":0}}",
		" {\"args\":{},\"op\":\"resume\"," REQ_HEAD "}\n",
	};
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		if (cvmi_request_parse_plain(goods[i], strlen(goods[i]), &req,
					     err, sizeof(err)))
			fail_msg("good %zu: %s", i, err);
		cvmi_request_clear(&req);
	}
}

#define RESP_HEAD "\"v\":1,\"type\":\"response\",\"id\":\"00112233445566778899aabbccddeeff\",\"instance\":\"web1\",\"ts\":1795000001"

static void test_response_plain(void **state)
{
	static const struct bad bad[] = {
		{ "{" RESP_HEAD "}", "\"ok\"" },
		{ "{" RESP_HEAD ",\"ok\":true}", "\"result\"" },
		{ "{" RESP_HEAD ",\"ok\":false}", "\"error\"" },
		{ "{" RESP_HEAD ",\"ok\":1,\"result\":{}}", "ok must" },
		{ "{" RESP_HEAD ",\"ok\":true,\"result\":{},\"error\":\"x\"}", "error with ok true" },
		{ "{" RESP_HEAD ",\"ok\":false,\"result\":{},\"error\":\"x\"}", "result with ok false" },
		{ "{" RESP_HEAD ",\"ok\":true,\"result\":\"x\"}", "result must" },
		{ "{" RESP_HEAD ",\"ok\":true,\"result\":null}", "result must" },
		{ "{" RESP_HEAD ",\"ok\":false,\"error\":{}}", "error must" },
		{ "{" RESP_HEAD ",\"ok\":true,\"result\":{},\"tenant\":\"a\"}", "\"tenant\"" },
		{ "{" RESP_HEAD ",\"ok\":true,\"result\":{},\"ok\":true}", "bad JSON" },
		{ "{\"v\":1,\"type\":\"request\",\"id\":\"00112233445566778899aabbccddeeff\",\"instance\":\"web1\",\"ts\":1,\"ok\":true,\"result\":{}}", "type" },
		{ "{\"v\":1,\"type\":\"response\",\"id\":\"00112233445566778899aabbccddeefg\",\"instance\":\"web1\",\"ts\":1,\"ok\":true,\"result\":{}}", "id" },
		{ "{\"v\":1,\"type\":\"response\",\"id\":\"00112233445566778899aabbccddeeff\",\"instance\":\"\",\"ts\":1,\"ok\":true,\"result\":{}}", "instance" },
		{ "{\"v\":1,\"type\":\"response\",\"id\":\"00112233445566778899aabbccddeeff\",\"instance\":\"web1\",\"ok\":true,\"result\":{}}", "\"ts\"" },
		{ "{\"v\":1,\"type\":\"response\",\"id\":\"00112233445566778899aabbccddeeff\",\"instance\":\"web1\",\"ts\":true,\"ok\":true,\"result\":{}}", "ts" },
		{ "{" RESP_HEAD ",\"ok\":false,\"error\":\"a\\u0000b\"}", "bad JSON" },
		{ "{" RESP_HEAD ",\"ok\":false,\"error\":\"\xff\"}", "bad JSON" },
	};
	struct cvmi_response resp;
	char err[256];

	(void)state;
	expect_bad(bad, sizeof(bad) / sizeof(bad[0]), parse_response);
	const char *ok = "{" RESP_HEAD ",\"ok\":true,\"result\":[1,{\"a\":null}]}";
	assert_int_equal(cvmi_response_parse_plain(ok, strlen(ok), &resp, err,
						   sizeof(err)),
			 0);
	assert_true(resp.ok);
	assert_true(json_is_array(resp.result));
	assert_string_equal(resp.id, "00112233445566778899aabbccddeeff");
	assert_string_equal(resp.instance, "web1");
	assert_int_equal(resp.ts, 1795000001);
	cvmi_response_clear(&resp);
	const char *no = "{" RESP_HEAD ",\"ok\":false,\"error\":\"no such vCPU\"}";
	assert_int_equal(cvmi_response_parse_plain(no, strlen(no), &resp, err,
						   sizeof(err)),
			 0);
	assert_false(resp.ok);
	assert_string_equal(resp.error, "no such vCPU");
	cvmi_response_clear(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_response_round_trip),
		cmocka_unit_test(test_random_nonce),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_wrong_keys),
		cmocka_unit_test(test_relabelled),
		cmocka_unit_test(test_response_swapped),
		cmocka_unit_test(test_seal_refusals),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_expiry_and_limit),
		cmocka_unit_test(test_replay_threads),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_key_malformed),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_request_plain),
		cmocka_unit_test(test_response_plain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
