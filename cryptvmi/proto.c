/* CryptVMI requests and responses (proto.h, PROTOCOL.md): building,
 * sealing, opening and checking them. Every plaintext, ours included,
 * goes through the same strict parser, before it is sealed and after it
 * is opened, so both ends agree on what is valid and neither sends what
 * the other would refuse. */
#include "proto.h"
#include "proto_plain.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../vmi/vmi_text.h"

#define B64 sodium_base64_VARIANT_ORIGINAL
#define BOX_OVERHEAD (crypto_box_NONCEBYTES + crypto_box_MACBYTES)
#define READ_LEN_MAX (1u << 20)
#define VCPU_MAX 8191
#define ID_BYTES (CVMI_ID_HEX / 2)

static const char *const ops[] = {
	"info", "ps", "lsmod", "read", "regs", "pause", "resume",
};

int cvmi_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return ret;
}

int cvmi_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool cvmi_valid_name(const char *s)
{
	size_t n;

	if (!s || !s[0] || s[0] == '.' || s[0] == '-')
		return false;
	for (n = 0; s[n]; n++)
		if (n >= CVMI_NAME_MAX || !name_char(s[n]))
			return false;
	return true;
}

bool cvmi_valid_id(const char *s)
{
	size_t n;

	if (!s)
		return false;
	for (n = 0; s[n]; n++)
		if (n >= CVMI_ID_HEX ||
		    !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == CVMI_ID_HEX;
}

bool cvmi_valid_op(const char *op)
{
	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

/* ---- plaintext parsing ---- */

/* Refuses any member of o not in allowed. */
static int only_fields(json_t *o, const char *const *allowed, size_t n,
		       const char *what, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i;

		for (i = 0; i < n && strcmp(key, allowed[i]); i++)
			;
		if (i == n)
			return cvmi_err(err, errlen, -EPROTO,
					"%s: unknown field \"%.32s\"", what,
					key);
	}
	return 0;
}

static json_t *need(json_t *o, const char *key, const char *what,
		    int *ret, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		*ret = cvmi_err(err, errlen, -EPROTO,
				"%s: missing field \"%s\"", what, key);
	return v;
}

static json_t *load(const char *json, size_t len, const char *what,
		    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	if (!json || !len || len > CVMI_PLAIN_MAX) {
		cvmi_err(err, errlen, -EPROTO,
			 "%s: plaintext empty or over %u bytes", what,
			 CVMI_PLAIN_MAX);
		return NULL;
	}
	/* No JSON_DECODE_ANY, JSON_ALLOW_NUL or JSON_DISABLE_EOF_CHECK: an
	 * object, no NUL in strings, nothing after it. */
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		cvmi_err(err, errlen, -EPROTO, "%s: bad JSON at %d:%d: %s",
			 what, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		cvmi_err(err, errlen, -EPROTO, "%s: not a JSON object", what);
		return NULL;
	}
	return root;
}

/* v (exactly CVMI_VERSION) and type (exactly type). */
static int get_header(json_t *o, const char *type, int *version, char *err,
		      size_t errlen)
{
	int ret = 0;
	json_t *v = need(o, "v", type, &ret, err, errlen);
	json_t *t;

	if (!v)
		return ret;
	if (!json_is_integer(v) || json_integer_value(v) != CVMI_VERSION)
		return cvmi_err(err, errlen, -EPROTO,
				"%s: v must be the integer %d", type,
				CVMI_VERSION);
	t = need(o, "type", type, &ret, err, errlen);
	if (!t)
		return ret;
	if (!json_is_string(t) || strcmp(json_string_value(t), type))
		return cvmi_err(err, errlen, -EPROTO,
				"%s: type must be \"%s\"", type, type);
	*version = CVMI_VERSION;
	return 0;
}

/* What requests and responses start with: a JSON object of only the n
 * fields, whose v and type are right. 0 with *root (a new reference), or
 * -errno. */
static int load_head(const char *json, size_t len, const char *type,
		     const char *const *fields, size_t n, json_t **root,
		     int *version, char *err, size_t errlen)
{
	int ret;

	*root = load(json, len, type, err, errlen);
	if (!*root)
		return -EPROTO;
	ret = only_fields(*root, fields, n, type, err, errlen);
	if (!ret)
		ret = get_header(*root, type, version, err, errlen);
	if (ret) {
		json_decref(*root);
		*root = NULL;
	}
	return ret;
}

static int get_name(json_t *o, const char *key, const char *what,
		    char out[CVMI_NAME_MAX + 1], char *err, size_t errlen)
{
	int ret = 0;
	json_t *v = need(o, key, what, &ret, err, errlen);

	if (!v)
		return ret;
	if (!json_is_string(v) || json_string_length(v) > CVMI_NAME_MAX ||
	    !cvmi_valid_name(json_string_value(v)))
		return cvmi_err(err, errlen, -EPROTO,
				"%s: %s must be a name of 1 to %d of [A-Za-z0-9._-], not starting with '.' or '-'",
				what, key, CVMI_NAME_MAX);
	strcpy(out, json_string_value(v));
	return 0;
}

static int get_id(json_t *o, const char *what, char out[CVMI_ID_HEX + 1],
		  char *err, size_t errlen)
{
	int ret = 0;
	json_t *v = need(o, "id", what, &ret, err, errlen);

	if (!v)
		return ret;
	if (!json_is_string(v) || json_string_length(v) != CVMI_ID_HEX ||
	    !cvmi_valid_id(json_string_value(v)))
		return cvmi_err(err, errlen, -EPROTO,
				"%s: id must be %d lowercase hex digits", what,
				CVMI_ID_HEX);
	strcpy(out, json_string_value(v));
	return 0;
}

static int get_ts(json_t *o, const char *what, int64_t *ts, char *err,
		  size_t errlen)
{
	int ret = 0;
	json_t *v = need(o, "ts", what, &ret, err, errlen);

	if (!v)
		return ret;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return cvmi_err(err, errlen, -EPROTO,
				"%s: ts must be an integer >= 0 (unix seconds)",
				what);
	*ts = json_integer_value(v);
	return 0;
}

/* An integer member from lo to hi, into *val unless val is NULL. */
static int get_int(json_t *o, const char *key, const char *what,
		   json_int_t lo, json_int_t hi, json_int_t *val, char *err,
		   size_t errlen)
{
	int ret = 0;
	json_t *v = need(o, key, what, &ret, err, errlen);

	if (!v)
		return ret;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return cvmi_err(err, errlen, -EPROTO,
				"%s: %s must be an integer from %lld to %lld",
				what, key, (long long)lo, (long long)hi);
	if (val)
		*val = json_integer_value(v);
	return 0;
}

/* "0x" and 1 to 16 hex digits. */
static bool parse_addr(json_t *v, uint64_t *addr)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < 3 || n > 18 || s[0] != '0' || s[1] != 'x')
		return false;
	*addr = 0;
	for (size_t i = 2; i < n; i++) {
		int d = vmi_hexval(s[i]);

		if (d < 0)
			return false;
		*addr = *addr << 4 | (unsigned)d;
	}
	return true;
}

static int check_read(json_t *args, char *err, size_t errlen)
{
	static const char *const keys[] = { "addr", "len", "pid", "phys" };
	json_t *addr, *pid, *phys;
	json_int_t len;
	uint64_t a;
	int ret = only_fields(args, keys, 4, "read args", err, errlen);

	if (ret)
		return ret;
	addr = need(args, "addr", "read args", &ret, err, errlen);
	if (!addr)
		return ret;
	if (!parse_addr(addr, &a))
		return cvmi_err(err, errlen, -EPROTO,
				"read args: addr must be a string \"0x\" and 1 to 16 hex digits");
	ret = get_int(args, "len", "read args", 1, READ_LEN_MAX, &len, err,
		      errlen);
	if (ret)
		return ret;
	if ((uint64_t)len - 1 > UINT64_MAX - a)
		return cvmi_err(err, errlen, -EPROTO,
				"read args: addr + len goes past 2^64");
	pid = json_object_get(args, "pid");
	if (pid) {
		ret = get_int(args, "pid", "read args", 0, INT32_MAX, NULL,
			      err, errlen);
		if (ret)
			return ret;
	}
	phys = json_object_get(args, "phys");
	if (phys && !json_is_boolean(phys))
		return cvmi_err(err, errlen, -EPROTO,
				"read args: phys must be true or false");
	if (pid && json_is_true(phys))
		return cvmi_err(err, errlen, -EPROTO,
				"read args: pid and phys exclude each other");
	return 0;
}

static int check_regs(json_t *args, char *err, size_t errlen)
{
	static const char *const keys[] = { "vcpu" };
	int ret = only_fields(args, keys, 1, "regs args", err, errlen);

	if (!ret)
		ret = get_int(args, "vcpu", "regs args", 0, VCPU_MAX, NULL,
			      err, errlen);
	return ret;
}

static int check_args(const char *op, json_t *args, char *err, size_t errlen)
{
	char what[CVMI_OP_MAX + 8];

	if (!strcmp(op, "read"))
		return check_read(args, err, errlen);
	if (!strcmp(op, "regs"))
		return check_regs(args, err, errlen);
	/* The others take none. */
	snprintf(what, sizeof(what), "%s args", op);
	return only_fields(args, NULL, 0, what, err, errlen);
}

int cvmi_request_parse_plain(const char *json, size_t len,
			     struct cvmi_request *out, char *err,
			     size_t errlen)
{
	static const char *const fields[] = {
		"v", "type", "tenant", "instance", "id", "ts", "op", "args",
	};
	const char *what = "request";
	json_t *root, *op, *args;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = load_head(json, len, what, fields,
			sizeof(fields) / sizeof(fields[0]), &root,
			&out->version, err, errlen);
	if (ret)
		return ret;
	ret = get_name(root, "tenant", what, out->tenant, err, errlen);
	if (!ret)
		ret = get_name(root, "instance", what, out->instance, err,
			       errlen);
	if (!ret)
		ret = get_id(root, what, out->id, err, errlen);
	if (!ret)
		ret = get_ts(root, what, &out->ts, err, errlen);
	if (ret)
		goto fail;
	op = need(root, "op", what, &ret, err, errlen);
	if (!op)
		goto fail;
	if (!json_is_string(op) || !cvmi_valid_op(json_string_value(op))) {
		ret = cvmi_err(err, errlen, -EPROTO,
			       "request: op must be one of info, ps, lsmod, read, regs, pause, resume");
		goto fail;
	}
	strcpy(out->op, json_string_value(op));
	args = need(root, "args", what, &ret, err, errlen);
	if (!args)
		goto fail;
	if (!json_is_object(args)) {
		ret = cvmi_err(err, errlen, -EPROTO,
			       "request: args must be an object");
		goto fail;
	}
	ret = check_args(out->op, args, err, errlen);
	if (ret)
		goto fail;
	out->args = json_incref(args);
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	memset(out, 0, sizeof(*out));
	return ret;
}

void cvmi_request_clear(struct cvmi_request *req)
{
	if (!req)
		return;
	json_decref(req->args);
	memset(req, 0, sizeof(*req));
}

int cvmi_response_parse_plain(const char *json, size_t len,
			      struct cvmi_response *out, char *err,
			      size_t errlen)
{
	static const char *const fields[] = {
		"v", "type", "id", "instance", "ts", "ok", "result", "error",
	};
	const char *what = "response";
	json_t *root, *ok, *result, *error;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = load_head(json, len, what, fields,
			sizeof(fields) / sizeof(fields[0]), &root,
			&out->version, err, errlen);
	if (ret)
		return ret;
	ret = get_id(root, what, out->id, err, errlen);
	if (!ret)
		ret = get_name(root, "instance", what, out->instance, err,
			       errlen);
	if (!ret)
		ret = get_ts(root, what, &out->ts, err, errlen);
	if (ret)
		goto fail;
	ok = need(root, "ok", what, &ret, err, errlen);
	if (!ok)
		goto fail;
	if (!json_is_boolean(ok)) {
		ret = cvmi_err(err, errlen, -EPROTO,
			       "response: ok must be true or false");
		goto fail;
	}
	out->ok = json_is_true(ok);
	result = json_object_get(root, "result");
	error = json_object_get(root, "error");
	if (out->ok) {
		if (error) {
			ret = cvmi_err(err, errlen, -EPROTO,
				       "response: error with ok true");
			goto fail;
		}
		result = need(root, "result", what, &ret, err, errlen);
		if (!result)
			goto fail;
		if (!json_is_object(result) && !json_is_array(result)) {
			ret = cvmi_err(err, errlen, -EPROTO,
				       "response: result must be an object or array");
			goto fail;
		}
		out->result = json_incref(result);
	} else {
		if (result) {
			ret = cvmi_err(err, errlen, -EPROTO,
				       "response: result with ok false");
			goto fail;
		}
		error = need(root, "error", what, &ret, err, errlen);
		if (!error)
			goto fail;
		if (!json_is_string(error)) {
			ret = cvmi_err(err, errlen, -EPROTO,
				       "response: error must be a string");
			goto fail;
		}
		out->error = strdup(json_string_value(error));
		if (!out->error) {
			ret = cvmi_err(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	cvmi_response_clear(out);
	return ret;
}

void cvmi_response_clear(struct cvmi_response *resp)
{
	if (!resp)
		return;
	json_decref(resp->result);
	free(resp->error);
	memset(resp, 0, sizeof(*resp));
}

/* ---- boxes ---- */

/* *ct = base64(nonce || crypto_box_easy(plain)) from sk to pk. */
static int seal(const char *plain, size_t len,
		const uint8_t pk[CVMI_KEY_BYTES],
		const uint8_t sk[CVMI_KEY_BYTES], char **ct, char *err,
		size_t errlen)
{
	size_t blen = BOX_OVERHEAD + len;
	size_t b64len = sodium_base64_encoded_len(blen, B64);
	unsigned char *bin = malloc(blen);
	char *out = malloc(b64len);

	if (!bin || !out) {
		free(bin);
		free(out);
		return cvmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	/* A fresh random nonce per message: 24 bytes make collisions
	 * negligible without any state to keep. */
	randombytes_buf(bin, crypto_box_NONCEBYTES);
	if (crypto_box_easy(bin + crypto_box_NONCEBYTES,
			    (const unsigned char *)plain, len, bin, pk,
			    sk) != 0) {
		free(bin);
		free(out);
		return cvmi_err(err, errlen, -EINVAL,
				"cannot seal: unusable public key");
	}
	sodium_bin2base64(out, b64len, bin, blen, B64);
	free(bin);
	*ct = out;
	return 0;
}

/* Decodes and opens ct; *plain (malloc'd, *len bytes) for the caller to
 * wipe and free. Every failure is -EBADMSG: the handler learns nothing
 * from which step refused. */
static int unseal(const char *ct, const uint8_t pk[CVMI_KEY_BYTES],
		  const uint8_t sk[CVMI_KEY_BYTES], char **plain,
		  size_t *len, char *err, size_t errlen)
{
	const size_t b64_max =
		sodium_base64_ENCODED_LEN(BOX_OVERHEAD + CVMI_PLAIN_MAX, B64) -
		1;
	size_t n, cap, blen;
	unsigned char *bin, *p;

	*plain = NULL;
	*len = 0;
	if (!ct)
		return cvmi_err(err, errlen, -EBADMSG, "no ciphertext");
	/* Bounded before anything is allocated or decoded. */
	n = strnlen(ct, b64_max + 1);
	if (n > b64_max)
		return cvmi_err(err, errlen, -EBADMSG,
				"ciphertext over %zu characters", b64_max);
	cap = n / 4 * 3 + 3;
	bin = malloc(cap);
	if (!bin)
		return cvmi_err(err, errlen, -ENOMEM, "out of memory");
	/* No ignored characters and no b64_end: the whole string must be
	 * canonical padded base64. */
	if (sodium_base642bin(bin, cap, ct, n, NULL, &blen, NULL, B64) != 0) {
		free(bin);
		return cvmi_err(err, errlen, -EBADMSG,
				"ciphertext is not base64");
	}
	if (blen < BOX_OVERHEAD + 2 || blen > BOX_OVERHEAD + CVMI_PLAIN_MAX) {
		free(bin);
		return cvmi_err(err, errlen, -EBADMSG,
				"ciphertext of %zu bytes is too short or long",
				blen);
	}
	p = malloc(blen - BOX_OVERHEAD);
	if (!p) {
		free(bin);
		return cvmi_err(err, errlen, -ENOMEM, "out of memory");
	}
	if (crypto_box_open_easy(p, bin + crypto_box_NONCEBYTES,
				 blen - crypto_box_NONCEBYTES, bin, pk,
				 sk) != 0) {
		free(bin);
		free(p);
		return cvmi_err(err, errlen, -EBADMSG,
				"ciphertext does not open: wrong key, tampered or truncated");
	}
	free(bin);
	*plain = (char *)p;
	*len = blen - BOX_OVERHEAD;
	return 0;
}

static void wipe_free(char *p, size_t len)
{
	if (p) {
		sodium_memzero(p, len);
		free(p);
	}
}

/* Serializes o (stolen) into *plain, at most CVMI_PLAIN_MAX bytes. */
static int dump(json_t *o, const char *what, char **plain, size_t *len,
		char *err, size_t errlen)
{
	char *s;

	if (!o)
		return cvmi_err(err, errlen, -EINVAL,
				"%s: cannot build it (strings must be UTF-8)",
				what);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return cvmi_err(err, errlen, -ENOMEM,
				"%s: cannot serialize it", what);
	*len = strlen(s);
	if (*len > CVMI_PLAIN_MAX) {
		wipe_free(s, *len);
		return cvmi_err(err, errlen, -EMSGSIZE,
				"%s: over %u bytes", what, CVMI_PLAIN_MAX);
	}
	*plain = s;
	return 0;
}

/* Plaintext checkers: the parser the other end runs, result dropped. */
typedef int check_fn(const char *json, size_t len, char *err,
		     size_t errlen);

static int check_request(const char *json, size_t len, char *err,
			 size_t errlen)
{
	struct cvmi_request chk;
	int ret = cvmi_request_parse_plain(json, len, &chk, err, errlen);

	cvmi_request_clear(&chk);
	return ret;
}

static int check_response(const char *json, size_t len, char *err,
			  size_t errlen)
{
	struct cvmi_response chk;
	int ret = cvmi_response_parse_plain(json, len, &chk, err, errlen);

	cvmi_response_clear(&chk);
	return ret;
}

/* Serializes o (stolen) and seals it from sk to pk, once check passes:
 * refuse here what the other end would refuse (bad args, a negative ts),
 * with the same message. */
static int dump_seal(json_t *o, const char *what, check_fn *check,
		     const uint8_t pk[CVMI_KEY_BYTES],
		     const uint8_t sk[CVMI_KEY_BYTES], char **ct, char *err,
		     size_t errlen)
{
	char *plain = NULL;
	size_t len = 0;
	int ret = dump(o, what, &plain, &len, err, errlen);

	if (ret)
		return ret;
	ret = check(plain, len, err, errlen);
	if (!ret)
		ret = seal(plain, len, pk, sk, ct, err, errlen);
	else
		ret = -EINVAL;
	wipe_free(plain, len);
	return ret;
}

/* A plaintext parser, into a struct cvmi_request or cvmi_response. */
typedef int parse_fn(const char *json, size_t len, void *out, char *err,
		     size_t errlen);

/* Opens ct from pk with sk and parses the plaintext into out; the
 * plaintext is wiped either way. */
static int open_parse(const char *ct, const uint8_t pk[CVMI_KEY_BYTES],
		      const uint8_t sk[CVMI_KEY_BYTES], parse_fn *parse,
		      void *out, char *err, size_t errlen)
{
	char *plain;
	size_t len;
	int ret = unseal(ct, pk, sk, &plain, &len, err, errlen);

	if (ret)
		return ret;
	ret = parse(plain, len, out, err, errlen);
	wipe_free(plain, len);
	return ret;
}

static int parse_request(const char *json, size_t len, void *out, char *err,
			 size_t errlen)
{
	return cvmi_request_parse_plain(json, len, out, err, errlen);
}

static int parse_response(const char *json, size_t len, void *out,
			  char *err, size_t errlen)
{
	return cvmi_response_parse_plain(json, len, out, err, errlen);
}

int cvmi_request_seal(const char *tenant, const char *instance,
		      const char *op, json_t *args, int64_t now,
		      const uint8_t agent_pk[CVMI_KEY_BYTES],
		      const uint8_t tenant_sk[CVMI_KEY_BYTES],
		      char id_out[CVMI_ID_HEX + 1], char **ct, char *err,
		      size_t errlen)
{
	uint8_t rnd[ID_BYTES];
	char id[CVMI_ID_HEX + 1];
	json_t *o;
	int ret;

	*ct = NULL;
	if (!cvmi_valid_name(tenant) || !cvmi_valid_name(instance))
		return cvmi_err(err, errlen, -EINVAL,
				"request: tenant and instance must be names of 1 to %d of [A-Za-z0-9._-], not starting with '.' or '-'",
				CVMI_NAME_MAX);
	if (!cvmi_valid_op(op))
		return cvmi_err(err, errlen, -EINVAL,
				"request: unknown op \"%.16s\"", op ? op : "");
	if (args && !json_is_object(args))
		return cvmi_err(err, errlen, -EINVAL,
				"request: args must be an object");
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(id, sizeof(id), rnd, sizeof(rnd));
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:o}", "v",
		      CVMI_VERSION, "type", "request", "tenant", tenant,
		      "instance", instance, "id", id, "ts", (json_int_t)now,
		      "op", op, "args",
		      args ? json_incref(args) : json_object());
	ret = dump_seal(o, "request", check_request, agent_pk, tenant_sk, ct,
			err, errlen);
	if (!ret)
		memcpy(id_out, id, sizeof(id));
	return ret;
}

int cvmi_request_open(const char *ct, const char *outer_tenant,
		      const char *outer_instance,
		      const uint8_t tenant_pk[CVMI_KEY_BYTES],
		      const uint8_t agent_sk[CVMI_KEY_BYTES],
		      struct cvmi_request *req, char *err, size_t errlen)
{
	int ret;

	memset(req, 0, sizeof(*req));
	ret = open_parse(ct, tenant_pk, agent_sk, parse_request, req, err,
			 errlen);
	if (ret)
		return ret;
	/* What the handler says in the clear must be what the tenant
	 * sealed: it cannot relabel a request for another tenant or VM. */
	if (!outer_tenant || strcmp(req->tenant, outer_tenant)) {
		cvmi_request_clear(req);
		return cvmi_err(err, errlen, -EPERM,
				"request is sealed for another tenant");
	}
	if (!outer_instance || strcmp(req->instance, outer_instance)) {
		cvmi_request_clear(req);
		return cvmi_err(err, errlen, -EPERM,
				"request is sealed for another instance");
	}
	return 0;
}

int cvmi_response_seal(const struct cvmi_request *req, json_t *result,
		       const char *error, int64_t now,
		       const uint8_t tenant_pk[CVMI_KEY_BYTES],
		       const uint8_t agent_sk[CVMI_KEY_BYTES], char **ct,
		       char *err, size_t errlen)
{
	json_t *o;

	*ct = NULL;
	if (!req || !cvmi_valid_id(req->id) ||
	    !cvmi_valid_name(req->instance))
		return cvmi_err(err, errlen, -EINVAL,
				"response: not an opened request");
	if (!result == !error)
		return cvmi_err(err, errlen, -EINVAL,
				"response: needs a result or an error, not both");
	if (result && !json_is_object(result) && !json_is_array(result))
		return cvmi_err(err, errlen, -EINVAL,
				"response: result must be an object or array");
	if (result)
		o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:b, s:O}", "v",
			      CVMI_VERSION, "type", "response", "id", req->id,
			      "instance", req->instance, "ts",
			      (json_int_t)now, "ok", 1, "result", result);
	else
		o = json_pack("{s:i, s:s, s:s, s:s, s:I, s:b, s:s}", "v",
			      CVMI_VERSION, "type", "response", "id", req->id,
			      "instance", req->instance, "ts",
			      (json_int_t)now, "ok", 0, "error", error);
	return dump_seal(o, "response", check_response, tenant_pk, agent_sk,
			 ct, err, errlen);
}

int cvmi_response_open(const char *ct, const char *id, const char *instance,
		       const uint8_t agent_pk[CVMI_KEY_BYTES],
		       const uint8_t tenant_sk[CVMI_KEY_BYTES],
		       json_t **result, char **agent_error, char *err,
		       size_t errlen)
{
	struct cvmi_response resp;
	int ret;

	*result = NULL;
	*agent_error = NULL;
	ret = open_parse(ct, agent_pk, tenant_sk, parse_response, &resp, err,
			 errlen);
	if (ret)
		return ret;
	/* Only the answer to this request, from this instance: the handler
	 * could otherwise swap responses between requests or VMs. */
	if (!id || strcmp(resp.id, id)) {
		cvmi_response_clear(&resp);
		return cvmi_err(err, errlen, -EPERM,
				"response answers another request");
	}
	if (!instance || strcmp(resp.instance, instance)) {
		cvmi_response_clear(&resp);
		return cvmi_err(err, errlen, -EPERM,
				"response comes from another instance");
	}
	*result = resp.result;
	*agent_error = resp.error;
	return 0;
}
