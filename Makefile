# One Makefile for the whole project (see README: why Make).
#   make                 vsbd, tools, test guests, unit tests  -> build/
#   make VARIANT=asan    the same under ASan+UBSan              -> build-asan/
#   make check           everything, then the whole test suite
VARIANT ?= release
ifeq ($(VARIANT),asan)
B ?= build-asan
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT := -O1
else
B ?= build
SAN :=
OPT := -O2
endif

CC := gcc
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wformat=2 -Wno-format-nonliteral
CFLAGS := -std=gnu11 $(OPT) -g $(WARN) -D_GNU_SOURCE -pthread -MMD -MP $(SAN) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SAN)
# libssh (tenant SSH server) and libvncserver (VNC server): remote/
LDLIBS := $(shell pkg-config --libs libssh libvncserver 2>/dev/null || echo -lssh -lvncserver)
# libbpf (vmi/linux_btf.c: struct layouts from the guest kernel's BTF)
LDLIBS += -lbpf -lelf -lz
# jansson (vmi/qmp.c: QEMU's QMP monitor speaks JSON; cryptvmi/)
LDLIBS += -ljansson
# cryptvmi/: libsodium (the protocol's crypto), libmicrohttpd + GnuTLS
# (the handler's and agents' HTTPS servers), libcurl (their clients),
# SQLite (the handler's directory)
LDLIBS += -lsodium -lmicrohttpd -lgnutls -lcurl -lsqlite3

# Everything but the programs' main files goes into one static library that
# the programs and the unit tests link against.
# boundary/ is the vsbd <-> vsb-ghv protocol, operator/ the untrusted
# vsb-ghv: both in the archive, which links into a program only the objects
# it calls, so vsbd carries no operator code.
LIB_SRCS := $(wildcard vmm/*.c boot/*.c devices/*.c remote/*.c vmi/*.c cryptvmi/*.c \
	boundary/*.c operator/*.c)
LIB_SRCS := $(filter-out vmm/main.c cryptvmi/%_main.c operator/ghv_main.c,$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIB := $(B)/libvsb.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

PROGS := $(B)/vsbd $(B)/vsbadm $(B)/vmi $(B)/vsb-ghv
# CryptVMI (cryptvmi/README.md): tenant CLI, compute-node agent, the
# operator's handler and its administrator's tool; cryptvmi/NAME_main.c.
CVMI_PROGS := cryptvmi cryptvmi-agent cryptvmi-handler cryptvmi-admin
PROGS += $(CVMI_PROGS:%=$(B)/%)

GUEST_OUT := $(B)/guests
include guests/guests.mk

# Programs for the Linux test guests (guests/linux/): static, since the
# guests' busybox initramfs has no C library; never sanitized.
LINUX_GUEST_BINS := $(B)/guests/linux/vmitarget

.PHONY: all clean check asan guests
BENCH_BINS := $(B)/bench/vmi_bench $(B)/bench/cvmi_bench
# Keep their objects (make would delete them as intermediates).
.SECONDARY: $(BENCH_BINS:$(B)/bench/%=$(B)/obj/bench/%.o)
all: $(PROGS) $(UNIT_BINS) $(GUEST_ELFS) $(LINUX_GUEST_BINS) $(BENCH_BINS)
guests: $(GUEST_ELFS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Unit tests include the headers of the module they test by bare name.
$(B)/obj/tests/%.o: CFLAGS += -I. -Ivmm -Iboot -Idevices -Iremote -Ivmi -Iboundary -Ioperator

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(B)/vsbd: $(B)/obj/vmm/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The operator's guest hypervisor (operator/README.md); libseccomp sandboxes it.
$(B)/vsb-ghv: $(B)/obj/operator/ghv_main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lseccomp -o $@

# The administrator's tool: VM names as vsbd checks them, libssh to check
# public keys.
$(B)/vsbadm: $(B)/obj/tools/vsbadm.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(B)/guests/linux/%: guests/linux/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

$(B)/cryptvmi: $(B)/obj/cryptvmi/cli_main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(B)/cryptvmi-%: $(B)/obj/cryptvmi/%_main.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The introspection CLI (vmi/README.md).
$(B)/vmi: $(B)/obj/tools/vmi.o $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Benchmarks written in C (bench/README.md).
$(B)/bench/%: $(B)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -lcmocka $(LDLIBS) -o $@

check: all
	tests/run

clean:
	rm -rf build build-asan

# libFuzzer targets (tests/fuzz/README.md): clang, not gcc, and the library
# sources compiled again with coverage and sanitizers into build-fuzz/, so
# the normal and asan builds above are untouched.
FUZZ_B := build-fuzz
FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 $(WARN) -D_GNU_SOURCE -pthread -MMD -MP -I. \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_SRCS := vmm/ioroute.c vmm/vmconf.c vmm/log.c remote/ssh_auth.c $(wildcard boot/*.c devices/*.c vmi/*.c) operator/virtio_blk.c operator/virtio_pci.c operator/virtqueue.c \
	boundary/ghv_check.c boundary/ghv_ring.c \
	cryptvmi/keys.c cryptvmi/proto.c cryptvmi/replay.c cryptvmi/handler_req.c \
	cryptvmi/agent_config.c cryptvmi/agent_state.c cryptvmi/agent_query.c \
	cryptvmi/agent_vm.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_B)/obj/%.o)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_B)/%)

.PHONY: fuzz
fuzz: $(FUZZ_BINS)

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# An archive, so each fuzzer links only the modules it calls.
$(FUZZ_B)/libvsb-fuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/tests/fuzz/fuzz_%.o $(FUZZ_B)/libvsb-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -lssh -lbpf -lelf -lz -ljansson -lsodium -o $@

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)
endif
