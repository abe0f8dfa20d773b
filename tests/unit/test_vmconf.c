/* Unit tests of VM definition files (vmm/vmconf.c): keys become long
 * options, relative paths resolve against the file's directory, and every
 * malformed line is refused with its line number. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "vmconf.h"

static int parse(const char *text, struct vmconf *c, char *err)
{
	return vmconf_parse(text, strlen(text), "/etc/vms/web", c, err, 160);
}

static void test_good_file(void **state)
{
	(void)state;
	struct vmconf c;
	char err[160] = "";
	const char *text =
		"# a tenant VM\n"
		"\n"
		"name = web1\n"
		"kernel = vmlinuz\n"
		"initrd=/abs/initrd.img\n"
		"  memory\t=  512M  \r\n"
		"append = console=ttyS0 root=/dev/vda\n"
		"authorized-keys = keys/authorized_keys\n"
		"ssh = 127.0.0.1:2222\n"
		"allow-pvm = yes\n"
		"fb = 800x600"; /* no final newline */

	assert_int_equal(parse(text, &c, err), 0);
	assert_string_equal(c.kernel, "/etc/vms/web/vmlinuz");
	assert_int_equal(c.nargs, 8);
	assert_string_equal(c.args[0], "--name=web1");
	assert_string_equal(c.args[1], "--initrd=/abs/initrd.img");
	assert_string_equal(c.args[2], "--memory=512M");
	assert_string_equal(c.args[3], "--append=console=ttyS0 root=/dev/vda");
	assert_string_equal(c.args[4],
			    "--authorized-keys=/etc/vms/web/keys/authorized_keys");
	assert_string_equal(c.args[5], "--ssh=127.0.0.1:2222");
	assert_string_equal(c.args[6], "--allow-pvm");
	assert_string_equal(c.args[7], "--fb=800x600");
	vmconf_free(&c);
}

static void expect_error(const char *text, const char *msg)
{
	struct vmconf c;
	char err[160] = "";

	assert_int_equal(parse(text, &c, err), -EINVAL);
	if (!strstr(err, msg))
		fail_msg("error '%s' does not mention '%s'", err, msg);
	assert_null(c.args);
	assert_null(c.kernel);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("name = a\nbogus = 1\n", "line 2: unknown key 'bogus'");
	expect_error("name a\n", "line 1: expected '=' after name");
	expect_error("name = a\nname = b\n", "line 2: name given twice");
	expect_error("kernel =\n", "kernel needs a value");
	expect_error("name = a\x01b\n", "control character");
	expect_error("config = other.conf\n", "unknown key 'config'");
	expect_error("= value\n", "unknown key ''");

	/* A file larger than the limit is refused outright. */
	size_t big = VMCONF_MAX_BYTES + 1;
	char *text = malloc(big);
	memset(text, '#', big);
	struct vmconf c;
	char err[160];
	assert_int_equal(vmconf_parse(text, big, ".", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "larger than"));
	free(text);
}

static void test_empty_append_and_load(void **state)
{
	(void)state;
	struct vmconf c;
	char err[160];

	assert_int_equal(parse("append =\n", &c, err), 0);
	assert_int_equal(c.nargs, 1);
	assert_string_equal(c.args[0], "--append=");
	vmconf_free(&c);

	char dir[] = "/tmp/vmconf-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/vm.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("kernel = guest.elf\nname = t\n", f);
	fclose(f);
	assert_int_equal(vmconf_load(path, &c), 0);
	char want[80];
	snprintf(want, sizeof(want), "%s/guest.elf", dir);
	assert_string_equal(c.kernel, want);
	vmconf_free(&c);
	unlink(path);
	rmdir(dir);
	assert_int_equal(vmconf_load(path, &c), -ENOENT);
}

static void test_vm_names(void **state)
{
	(void)state;
	assert_true(vmconf_valid_name("web1"));
	assert_true(vmconf_valid_name("a.b_c-d"));
	assert_true(vmconf_valid_name("01234567890123456789012345678901"));
	assert_false(vmconf_valid_name("012345678901234567890123456789012"));
	assert_false(vmconf_valid_name(""));
	assert_false(vmconf_valid_name(".hidden"));
	assert_false(vmconf_valid_name("-opt"));
	assert_false(vmconf_valid_name("../evil"));
	assert_false(vmconf_valid_name("a b"));
	assert_false(vmconf_valid_name("caf\xc3\xa9"));
}

int main(void)
{
	log_init("test", LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_empty_append_and_load),
		cmocka_unit_test(test_vm_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
