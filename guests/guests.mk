# PVH test guests (see guests/README.md). Included by the top-level Makefile,
# which sets GUEST_OUT; also usable alone:
#   make -f guests/guests.mk GUEST_OUT=/tmp/g
# Defines GUEST_ELFS; all variables and rules are GUEST_-prefixed or static
# pattern rules so nothing here leaks into the host build's implicit rules.

# Where this fragment lives, so it works whatever directory includes it.
GUEST_SRC := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_STANDALONE := $(filter 1,$(words $(MAKEFILE_LIST)))
# Remember the includer's default goal; restored at the end.
GUEST_SAVED_GOAL := $(.DEFAULT_GOAL)

GUEST_OUT ?= build/guests
GUEST_CC ?= gcc
GUEST_PYTHON ?= python3
# fbecho's glyphs, converted at build time (never committed): kbd package.
GUEST_FONT ?= /usr/share/consolefonts/Lat15-Fixed16.psf.gz

GUEST_CFLAGS := -ffreestanding -fno-pic -no-pie -nostdlib -mno-red-zone \
	-mno-sse -mno-mmx -mno-80387 -mgeneral-regs-only -fno-stack-protector \
	-fcf-protection=none -O2 -Wall -Wextra -Werror -std=gnu11 -static
GUEST_LDFLAGS := -T $(GUEST_SRC)/guest.ld -Wl,--build-id=none -z noexecstack

GUEST_NAMES := hello echo flood smp fbecho pciping
GUEST_ELFS := $(GUEST_NAMES:%=$(GUEST_OUT)/%.elf)

GUEST_RT_OBJS := $(GUEST_OUT)/start.o $(GUEST_OUT)/rt.o
GUEST_C_OBJS := $(GUEST_OUT)/rt.o $(GUEST_NAMES:%=$(GUEST_OUT)/%.o)

$(GUEST_C_OBJS): $(GUEST_OUT)/%.o: $(GUEST_SRC)/%.c $(GUEST_SRC)/rt.h $(GUEST_SRC)/guests.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -I$(GUEST_OUT) -c -o $@ $<

# Generated headers live in GUEST_OUT (hence -I above).
$(GUEST_OUT)/fbecho.o: $(GUEST_OUT)/font.h

$(GUEST_OUT)/font.h: $(GUEST_FONT) $(GUEST_SRC)/psf2c.py
	@mkdir -p $(@D)
	$(GUEST_PYTHON) $(GUEST_SRC)/psf2c.py $< $@

$(GUEST_OUT)/start.o: $(GUEST_SRC)/start.S $(GUEST_SRC)/guests.mk
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_ELFS): $(GUEST_OUT)/%.elf: $(GUEST_OUT)/%.o $(GUEST_RT_OBJS) $(GUEST_SRC)/guest.ld
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_RT_OBJS) $<

ifneq ($(GUEST_STANDALONE),)
.PHONY: all
all: $(GUEST_ELFS)
.DEFAULT_GOAL := all
else
.DEFAULT_GOAL := $(GUEST_SAVED_GOAL)
endif
