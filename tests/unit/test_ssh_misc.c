/* Unit tests of the SSH server's small parts: the listen address, the
 * console escape filter, which forwarding destinations are allowed, and
 * the log-safe copies of client-chosen strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ssh_escape.h"
#include "ssh_forward.h"
#include "ssh_listen.h"
#include "ssh_server.h"
#include "ssh_util.h"

static int parse(const char *spec, char *host, int *port)
{
	return ssh_listen_parse(spec, host, 64, port);
}

static void test_listen_parse(void **state)
{
	char host[64];
	int port = -1;
	(void)state;

	assert_int_equal(parse("2222", host, &port), 0);
	assert_string_equal(host, "");
	assert_int_equal(port, 2222);
	assert_int_equal(parse("127.0.0.1:0", host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 0);
	assert_int_equal(parse("[::1]:65535", host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 65535);
	assert_int_equal(parse("localhost:22", host, &port), 0);
	assert_string_equal(host, "localhost");

	assert_int_equal(parse("", host, &port), -EINVAL);
	assert_int_equal(parse(NULL, host, &port), -EINVAL);
	assert_int_equal(parse("ssh", host, &port), -EINVAL);
	assert_int_equal(parse("65536", host, &port), -EINVAL);
	assert_int_equal(parse("1:99999", host, &port), -EINVAL);
	assert_int_equal(parse("-1", host, &port), -EINVAL);
	assert_int_equal(parse("127.0.0.1:", host, &port), -EINVAL);
	assert_int_equal(parse(":22", host, &port), -EINVAL);
	assert_int_equal(parse("::1:22", host, &port), -EINVAL);
	assert_int_equal(parse("[::1]22", host, &port), -EINVAL);
	assert_int_equal(parse("[]:22", host, &port), -EINVAL);
	assert_int_equal(parse("[::1:22", host, &port), -EINVAL);
	assert_int_equal(parse("1.2.3.4:22x", host, &port), -EINVAL);
}

static void test_listen_open(void **state)
{
	int port = -1;
	(void)state;

	int fd = ssh_listen_open("127.0.0.1:0", &port);
	assert_true(fd >= 0);
	assert_true(port > 0);
	/* The same port again is taken. */
	char spec[32];
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	int port2;
	assert_true(ssh_listen_open(spec, &port2) < 0);
	close(fd);
	fd = ssh_listen_open("0", &port);
	assert_true(fd >= 0);
	assert_true(port > 0);
	close(fd);
	assert_int_equal(ssh_listen_open("nonsense", &port), -EINVAL);
}

/* Feeds a whole string, collecting output and actions in order. */
static size_t feed(struct ssh_escape *e, const char *in, char *out,
		   enum ssh_esc_action *acts, int *nacts)
{
	size_t len = strlen(in), o = 0;
	*nacts = 0;
	while (len > 0) {
		uint8_t buf[64];
		size_t n;
		enum ssh_esc_action act;
		size_t used = ssh_escape_feed(e, (const uint8_t *)in, len, buf,
					      &n, &act);
		assert_true(used > 0 && used <= len);
		memcpy(out + o, buf, n);
		o += n;
		in += used;
		len -= used;
		if (act != SSH_ESC_NONE)
			acts[(*nacts)++] = act;
	}
	out[o] = '\0';
	return o;
}

static void test_escape(void **state)
{
	struct ssh_escape e;
	enum ssh_esc_action acts[8];
	char out[64];
	int n;
	(void)state;

	ssh_escape_init(&e, SSH_ESCAPE_DEFAULT);
	feed(&e, "hello\r", out, acts, &n);
	assert_string_equal(out, "hello\r");
	assert_int_equal(n, 0);

	/* Commands stop the feed right after them. */
	uint8_t buf[16];
	size_t olen;
	enum ssh_esc_action act;
	size_t used = ssh_escape_feed(&e, (const uint8_t *)"ab\x1d.cd", 6, buf,
				      &olen, &act);
	assert_int_equal(used, 4);
	assert_int_equal(olen, 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(act, SSH_ESC_DETACH);

	feed(&e, "x\x1d" "by\x1d?z\x1d" "B", out, acts, &n);
	assert_string_equal(out, "xyz");
	assert_int_equal(n, 3);
	assert_int_equal(acts[0], SSH_ESC_BREAK);
	assert_int_equal(acts[1], SSH_ESC_HELP);
	assert_int_equal(acts[2], SSH_ESC_BREAK);

	/* Twice sends it once; before anything else, both go through. */
	feed(&e, "\x1d\x1d!\x1dq", out, acts, &n);
	assert_string_equal(out, "\x1d!\x1dq");
	assert_int_equal(n, 0);

	/* The escape may end one read and its command start the next. */
	feed(&e, "a\x1d", out, acts, &n);
	assert_string_equal(out, "a");
	feed(&e, ".", out, acts, &n);
	assert_string_equal(out, "");
	assert_int_equal(n, 1);
	assert_int_equal(acts[0], SSH_ESC_DETACH);

	/* No escape: everything passes. */
	ssh_escape_init(&e, -1);
	feed(&e, "\x1d.\x1d" "b", out, acts, &n);
	assert_string_equal(out, "\x1d.\x1d" "b");
	assert_int_equal(n, 0);

	/* Another escape byte. */
	ssh_escape_init(&e, '~');
	feed(&e, "a~~b~.", out, acts, &n);
	assert_string_equal(out, "a~b");
	assert_int_equal(n, 1);

	char name[16];
	assert_string_equal(ssh_escape_name(0x1d, name), "Ctrl-]");
	assert_string_equal(ssh_escape_name('~', name), "~");
	assert_string_equal(ssh_escape_name(-1, name), "(none)");
}

static void test_forward_allowed(void **state)
{
	(void)state;
	assert_true(ssh_forward_allowed("localhost", SSH_VNC_PORT));
	assert_true(ssh_forward_allowed("LOCALHOST", SSH_VNC_PORT));
	assert_true(ssh_forward_allowed("127.0.0.1", SSH_VNC_PORT));
	assert_true(ssh_forward_allowed("::1", SSH_VNC_PORT));
	assert_true(ssh_forward_allowed("vnc", SSH_VNC_PORT));
	assert_false(ssh_forward_allowed("localhost", 22));
	assert_false(ssh_forward_allowed("localhost", 5901));
	assert_false(ssh_forward_allowed("10.0.0.1", SSH_VNC_PORT));
	assert_false(ssh_forward_allowed("127.0.0.2", SSH_VNC_PORT));
	assert_false(ssh_forward_allowed("localhost.evil", SSH_VNC_PORT));
	assert_false(ssh_forward_allowed("", SSH_VNC_PORT));
	assert_false(ssh_forward_allowed(NULL, SSH_VNC_PORT));
}

static void test_logstr(void **state)
{
	char out[SSH_LOGSTR_MAX], in[200];
	(void)state;

	assert_string_equal(ssh_logstr("vm1", out), "vm1");
	assert_string_equal(ssh_logstr("a\nb\x1b[31m\\", out),
			    "a\\x0ab\\x1b[31m\\x5c");
	assert_string_equal(ssh_logstr(NULL, out), "(none)");
	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	ssh_logstr(in, out);
	assert_int_equal(strlen(out), 64 + 3);
	assert_string_equal(out + 64, "...");
	/* The worst case fits. */
	memset(in, '\x01', sizeof(in) - 1);
	ssh_logstr(in, out);
	assert_int_equal(strlen(out), 64 * 4 + 3);
}

static void test_sbuf(void **state)
{
	struct sbuf b = { 0 };
	uint8_t big[100000];
	(void)state;

	memset(big, 7, sizeof(big));
	assert_int_equal(sbuf_add(&b, "abc", 3), 0);
	sbuf_consume(&b, 1);
	assert_memory_equal(sbuf_data(&b), "bc", 2);
	assert_int_equal(sbuf_add(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 2 + sizeof(big));
	assert_memory_equal(sbuf_data(&b), "bc", 2);
	sbuf_consume(&b, b.len); /* a large emptied buffer is released */
	assert_null(b.p);
	assert_int_equal(sbuf_add(&b, "z", 1), 0);
	uint8_t *p = sbuf_reserve(&b, 10);
	assert_non_null(p);
	memcpy(p, "0123456789", 10);
	sbuf_commit(&b, 10);
	assert_memory_equal(sbuf_data(&b), "z0123456789", 11);
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_listen_open),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_forward_allowed),
		cmocka_unit_test(test_logstr),
		cmocka_unit_test(test_sbuf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
