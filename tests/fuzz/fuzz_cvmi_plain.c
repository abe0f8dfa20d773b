/* libFuzzer target: CryptVMI plaintexts (cryptvmi/proto.c), the JSON a
 * request or response box holds once opened. The input goes to both the
 * request and the response parser. Checked: never a crash or leak; on
 * success every field is valid (names, id, op, args of the op, result or
 * error); on failure -EPROTO with one printable line and nothing
 * returned. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cryptvmi/proto_plain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(int ret, const char *err, bool have)
{
	if (ret != -EPROTO && ret != -ENOMEM)
		abort();
	if (have || !err[0])
		abort();
	for (const char *p = err; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			abort();
}

static void check_request(const struct cvmi_request *r)
{
	json_t *v;

	if (r->version != CVMI_VERSION || !cvmi_valid_name(r->tenant) ||
	    !cvmi_valid_name(r->instance) || !cvmi_valid_id(r->id) ||
	    r->ts < 0 || !cvmi_valid_op(r->op) || !json_is_object(r->args))
		abort();
	if (!strcmp(r->op, "read")) {
		const char *addr = json_string_value(json_object_get(r->args,
								     "addr"));
		json_int_t len = json_integer_value(json_object_get(r->args,
								    "len"));

		if (!addr || strncmp(addr, "0x", 2) || strlen(addr) > 18 ||
		    len < 1 || len > (1 << 20))
			abort();
		v = json_object_get(r->args, "pid");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
			abort();
		if (v && json_is_true(json_object_get(r->args, "phys")))
			abort();
	} else if (!strcmp(r->op, "regs")) {
		v = json_object_get(r->args, "vcpu");
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 8191 ||
		    json_object_size(r->args) != 1)
			abort();
	} else if (json_object_size(r->args)) {
		abort();
	}
}

static void check_response(const struct cvmi_response *r)
{
	if (r->version != CVMI_VERSION || !cvmi_valid_id(r->id) ||
	    !cvmi_valid_name(r->instance) || r->ts < 0)
		abort();
	if (r->ok ? (!r->result || r->error ||
		     (!json_is_object(r->result) && !json_is_array(r->result)))
		  : (r->result || !r->error))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cvmi_request req;
	struct cvmi_response resp;
	char err[256] = "";
	int ret;

	ret = cvmi_request_parse_plain((const char *)data, size, &req, err,
				       sizeof(err));
	if (ret == 0)
		check_request(&req);
	else
		check_err(ret, err, req.args != NULL);
	cvmi_request_clear(&req);

	err[0] = 0;
	ret = cvmi_response_parse_plain((const char *)data, size, &resp, err,
					sizeof(err));
	if (ret == 0)
		check_response(&resp);
	else
		check_err(ret, err, resp.result || resp.error);
	cvmi_response_clear(&resp);
	return 0;
}
