# sfexec — singleflight for the shell.
#
# User variables (CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS, PREFIX, DESTDIR) are
# honoured; the flags the project needs live in SF_* variables.
#   make                     build sfexec and the libraries into $(O)
#   make check               C unit tests + bats CLI tests
#   make check SANITIZE=address,undefined
#   make bench               benchmarks (not part of check)
#   make install PREFIX=/usr DESTDIR=/tmp/pkg

VERSION    = 0.1.0
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man

CC        ?= cc
CFLAGS    ?= -O2 -g
SANITIZE  ?=

ifeq ($(SANITIZE),)
O         ?= build
else
O         ?= build/san-$(subst $(comma),-,$(SANITIZE))
endif
comma     := ,

SF_CFLAGS  = -std=c11 -Wall -Wextra -Werror -pthread -fPIC -Ilib \
             -D_GNU_SOURCE -DSF_VERSION='"$(VERSION)"'
SF_LDFLAGS = -pthread
ifneq ($(SANITIZE),)
SF_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SF_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# The cross-process engine behind the sfexec command (internal, static).
SFEXEC_SRCS = lib/key.c lib/rundir.c lib/proto.c lib/spool.c lib/runner.c \
              lib/client.c lib/flight.c
SFEXEC_OBJS = $(SFEXEC_SRCS:lib/%.c=$(O)/lib/%.o)

all: $(O)/sfexec

$(O)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/cmd/%.o: cmd/%.c $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/libsfexec.a: $(SFEXEC_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/sfexec: $(O)/cmd/sfexec.o $(O)/libsfexec.a
	$(CC) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The in-process singleflight group (libsingleflight) has its own fragment.
include lib/singleflight.mk

# ---- tests -----------------------------------------------------------------
UNIT_TESTS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))

$(O)/tests/%: tests/unit/%.c $(O)/libsfexec.a | check-deps
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(O)/libsfexec.a -lcmocka $(LDLIBS)

BATS ?= bats

check: check-unit check-cli check-singleflight

demo: $(O)/sfexec
	SFEXEC=$(O)/sfexec tests/demo.sh

check-deps:
	@echo '#include <cmocka.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { \
	    echo "make: cmocka is not installed: run 'apt-get install libcmocka-dev' (Debian/Ubuntu)" >&2; exit 1; }

check-unit: check-deps $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "# $$t"; CMOCKA_MESSAGE_OUTPUT=TAP $$t; done

check-cli: $(O)/sfexec
	@command -v $(BATS) >/dev/null 2>&1 || { \
	    echo "make: bats is not installed: run 'apt-get install bats' (Debian/Ubuntu)" >&2; exit 1; }
	SFEXEC=$(abspath $(O)/sfexec) $(BATS) tests/

bench: all bench-singleflight
	tests/bench/run

install: all install-singleflight
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(O)/sfexec $(DESTDIR)$(BINDIR)/sfexec
	install -m 0644 man/sfexec.1 $(DESTDIR)$(MANDIR)/man1/sfexec.1

uninstall: uninstall-singleflight
	rm -f $(DESTDIR)$(BINDIR)/sfexec $(DESTDIR)$(MANDIR)/man1/sfexec.1

clean:
	rm -rf build

.PHONY: all check check-deps check-unit check-cli demo bench install uninstall clean
