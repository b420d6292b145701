# sfexec — singleflight for the shell.
#
# User variables (CC, CFLAGS, CPPFLAGS, LDFLAGS, LDLIBS, PREFIX, DESTDIR) are
# honoured; the flags the project needs live in SF_* variables.
#   make                     build sfexec and the libraries into $(O)
#   make check               C unit tests + bats CLI tests
#   make check SANITIZE=address,undefined
#   make REDIS=no            without fleet mode (--redis; no hiredis)
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
SFEXEC_SRCS = lib/clock.c lib/key.c lib/rundir.c lib/proto.c lib/spool.c \
              lib/output.c lib/unixsock.c lib/loop.c lib/hub.c lib/command.c \
              lib/nest.c lib/runner.c lib/order.c lib/cache.c lib/client.c \
              lib/flight.c lib/control.c
# Fleet mode (--redis) links Debian's hiredis; make REDIS=no leaves it out
# (then --redis fails with one line).
REDIS     ?= yes
ifeq ($(REDIS),yes)
SFEXEC_SRCS += lib/redis.c lib/fleet.c
SF_LIBS    = -lhiredis
else
SFEXEC_SRCS += lib/fleet_none.c
SF_LIBS    =
endif
SFEXEC_OBJS = $(SFEXEC_SRCS:lib/%.c=$(O)/lib/%.o)

all: $(O)/sfexec

# Say what is missing rather than let the compiler fail on an include.
$(O)/lib/redis.o $(O)/lib/fleet.o: | redis-deps
redis-deps:
	@echo '#include <hiredis/hiredis.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { \
	    echo "make: hiredis is not installed: run 'apt-get install libhiredis-dev' (Debian/Ubuntu), or build without fleet mode: make REDIS=no" >&2; exit 1; }

$(O)/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/cmd/%.o: cmd/%.c $(wildcard lib/*.h cmd/*.h)
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/libsfexec.a: $(SFEXEC_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# sfexec is linked statically (make STATIC=no: dynamically): a static image
# has fewer mappings to map at exec, copy at the runner's fork and fault in
# afterwards, which saves about 0.3 ms of CPU per invocation here (README,
# Performance).  Sanitizer builds cannot be static; neither can memcheck see
# malloc in a static binary, so check-valgrind runs a dynamic twin.
STATIC    ?= yes
ifeq ($(STATIC)$(SANITIZE),yes)
SF_STATIC  = -static
endif
SFEXEC_LINK = $(O)/cmd/sfexec.o $(O)/cmd/options.o $(O)/cmd/list.o $(O)/libsfexec.a

$(O)/sfexec: $(SFEXEC_LINK)
	$(CC) $(SF_LDFLAGS) $(SF_STATIC) $(LDFLAGS) -o $@ $^ $(SF_LIBS) $(LDLIBS)

$(O)/sfexec-dynamic: $(SFEXEC_LINK)
	$(CC) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SF_LIBS) $(LDLIBS)

# The in-process singleflight group (libsingleflight) has its own fragment.
include lib/singleflight.mk

# ---- tests -----------------------------------------------------------------
UNIT_TESTS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))
ifneq ($(REDIS),yes)
UNIT_TESTS := $(filter-out $(O)/tests/test_redis,$(UNIT_TESTS))
endif

$(O)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(O)/libsfexec.a | check-deps
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(O)/libsfexec.a -lcmocka $(SF_LIBS) $(LDLIBS)

# The rendering of --list lives in cmd/; its test links it.
$(O)/tests/test_list: tests/unit/test_list.c $(O)/cmd/list.o $(O)/libsfexec.a | check-deps
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) -Icmd $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(O)/cmd/list.o $(O)/libsfexec.a -lcmocka $(SF_LIBS) $(LDLIBS)

# Fuzz targets replayed over their corpus (seeds and every crash ever found)
# with the ordinary compiler, so regressions are caught by make check.
FUZZ_TARGETS = proto client options cache
ifeq ($(REDIS),yes)
FUZZ_TARGETS += fleet
endif
FUZZ_REPLAY  = $(FUZZ_TARGETS:%=$(O)/tests/fuzz_%)

$(O)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(O)/cmd/options.o $(O)/libsfexec.a
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) -Icmd $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ \
	    tests/fuzz/fuzz_$*.c tests/fuzz/driver.c $(O)/cmd/options.o $(O)/libsfexec.a $(SF_LIBS) $(LDLIBS)

check-fuzz-corpus: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "# fuzz_$$t corpus"; $(O)/tests/fuzz_$$t tests/fuzz/corpus/$$t/*; done

BATS ?= bats

# make check runs every suite, then prints one total over their TAP lines.
check:
	@mkdir -p $(O)
	@{ $(MAKE) --no-print-directory check-all 2>&1; echo $$? > $(O)/check.status; } | tee $(O)/check.log
	@pass=$$(grep -c '^ok ' $(O)/check.log); fail=$$(grep -c '^not ok ' $(O)/check.log); \
	 skip=$$(grep -ci '^ok .*# skip' $(O)/check.log); \
	 echo "check: $$((pass - skip)) passed, $$fail failed, $$skip skipped"; \
	 exit $$(cat $(O)/check.status)

check-all: check-unit check-fuzz-corpus check-cli check-valgrind check-singleflight check-man

check-man:
	@if command -v mandoc >/dev/null 2>&1; then \
	    mandoc -T lint -W warning man/sfexec.1 man/singleflight.3 && echo "ok - mandoc -T lint man/*"; \
	else echo "ok - mandoc -T lint # skip: mandoc is not installed"; fi

# Long fault tests (chaos rounds, soak): not in check, run by CI.
check-long: $(O)/sfexec check-noredis
	SFEXEC=$(abspath $(O)/sfexec) $(BATS) tests/long/

# The build without fleet mode (make REDIS=no) builds, runs a command and
# refuses --redis with its one line.
check-noredis:
	$(MAKE) --no-print-directory O=$(O)/noredis REDIS=no $(O)/noredis/sfexec
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	 test "$$(SFEXEC_DIR=$$d/rt $(O)/noredis/sfexec -k k -- echo ran)" = ran && \
	 ! SFEXEC_DIR=$$d/rt $(O)/noredis/sfexec --redis unix:///nowhere -k k -- true \
	    2>$$d/err && grep -q 'built without Redis support' $$d/err && \
	 echo "ok - make REDIS=no: runs, and refuses --redis"

# The whole suite again with AddressSanitizer and UBSan.
check-sanitize:
	$(MAKE) --no-print-directory check SANITIZE=address,undefined

# A few CLI scenarios under memcheck (not with sanitizers: they do not mix).
check-valgrind: $(O)/sfexec-dynamic
ifeq ($(SANITIZE),)
	@command -v valgrind >/dev/null 2>&1 || { \
	    echo "make: valgrind is not installed: run 'apt-get install valgrind'" >&2; exit 1; }
	tests/valgrind.sh $(O)/sfexec-dynamic
else
	@echo "# check-valgrind skipped under SANITIZE=$(SANITIZE)"
endif

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
	@rm -rf $(O)/sanitizer-logs && mkdir -p $(O)/sanitizer-logs
	SFEXEC=$(abspath $(O)/sfexec) \
	ASAN_OPTIONS=log_path=$(abspath $(O))/sanitizer-logs/asan \
	UBSAN_OPTIONS=log_path=$(abspath $(O))/sanitizer-logs/ubsan:print_stacktrace=1 \
	    $(BATS) tests/
	@# The runner's stderr is /dev/null: its reports can only be in the logs.
	@if [ -n "$$(ls -A $(O)/sanitizer-logs)" ]; then \
	    cat $(O)/sanitizer-logs/* >&2; echo "not ok - sanitizer reports" ; exit 1; fi

# ---- fuzzing (libFuzzer; clang and libclang-rt-14-dev) ----------------------
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR      = build/fuzz
FUZZ_SRCS     = $(SFEXEC_SRCS) cmd/options.c
FUZZ_FLAGS    = -std=c11 -D_GNU_SOURCE -g -O1 -Ilib -Icmd \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRCS) $(wildcard lib/*.h cmd/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_$*.c $(FUZZ_SRCS) $(SF_LIBS)

# fuzz_fleet includes lib/fleet.c whole (to reach its static parsers).
$(FUZZ_DIR)/fuzz_fleet: tests/fuzz/fuzz_fleet.c $(FUZZ_SRCS) $(wildcard lib/*.h cmd/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_fleet.c \
	    $(filter-out lib/fleet.c,$(FUZZ_SRCS)) $(SF_LIBS)

# Each target for FUZZ_SECONDS; new inputs go to build/, crashes to
# build/fuzz/crash-*/ (copy one into tests/fuzz/corpus/ to keep it as a
# regression test).
fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus-$$t $(FUZZ_DIR)/crash-$$t; \
	    echo "# fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t/ \
	        $(FUZZ_DIR)/corpus-$$t tests/fuzz/corpus/$$t 2>&1 | \
	        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|artifact)' || true; \
	    test -z "$$(ls -A $(FUZZ_DIR)/crash-$$t)" || { echo "fuzz_$$t: crash, see $(FUZZ_DIR)/crash-$$t" >&2; exit 1; }; \
	done

bench: all bench-singleflight
	tests/bench/run

install: all install-singleflight
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(O)/sfexec $(DESTDIR)$(BINDIR)/sfexec
	install -m 0644 man/sfexec.1 $(DESTDIR)$(MANDIR)/man1/sfexec.1
	install -m 0644 cmd/completions/sfexec.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sfexec
	install -m 0644 cmd/completions/_sfexec \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_sfexec

uninstall: uninstall-singleflight
	rm -f $(DESTDIR)$(BINDIR)/sfexec $(DESTDIR)$(MANDIR)/man1/sfexec.1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/sfexec \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_sfexec

clean:
	rm -rf build

.PHONY: all redis-deps check check-deps check-unit check-cli check-all check-man check-long check-noredis check-sanitize check-valgrind check-fuzz-corpus fuzz demo bench install uninstall clean
