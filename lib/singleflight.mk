# libsingleflight: the in-process singleflight group of lib/singleflight.h.
# Included by the top-level Makefile, which provides O, SF_CFLAGS,
# SF_LDFLAGS, VERSION, PREFIX, LIBDIR, INCLUDEDIR, MANDIR and the
# $(O)/lib/%.o rule.
#
#   make check-singleflight        cmocka tests (TAP) + the example
#   make check-singleflight-tsan   the same under ThreadSanitizer
#   make bench-singleflight        C against Go's x/sync/singleflight
#   make install-singleflight      .a, .so, header, singleflight.pc, man page

# The soname carries the ABI major, not the package version: bump
# SF_SOMAJOR when a change breaks programs linked against the old library.
SF_SOMAJOR    = 0
SF_SONAME     = libsingleflight.so.$(SF_SOMAJOR)
SF_SOREAL     = libsingleflight.so.$(VERSION)

SF_GROUP_SRCS = $(wildcard lib/group*.c)
SF_GROUP_OBJS = $(SF_GROUP_SRCS:lib/%.c=$(O)/lib/%.o)

# One page documents every function; each name gets a link to it.
SF_MANLINKS   = sf_group_new sf_group_free sf_do sf_result_value sf_result_err \
                sf_result_shared sf_result_release sf_do_async sf_call_fd \
                sf_call_wait sf_call_release sf_forget sf_forget_unshared \
                sf_ctx_cancelled sf_ctx_fd

all: $(O)/libsingleflight.a $(O)/libsingleflight.so

$(O)/libsingleflight.a: $(SF_GROUP_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(O)/$(SF_SOREAL): $(SF_GROUP_OBJS)
	$(CC) -shared -Wl,-soname,$(SF_SONAME) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/$(SF_SONAME): $(O)/$(SF_SOREAL)
	ln -sf $(SF_SOREAL) $@

$(O)/libsingleflight.so: $(O)/$(SF_SONAME)
	ln -sf $(SF_SONAME) $@

# ---- tests -----------------------------------------------------------------
# Tests link the archive: they reach the hidden test hooks (tests/group/hooks.h).
SF_GROUP_TESTS = $(patsubst tests/group/%.c,$(O)/tests/group/%,$(wildcard tests/group/test_*.c))
SF_EXAMPLE     = $(O)/tests/examples/slow_lookup

sf-check-cmocka:
	@echo '#include <cmocka.h>' | $(CC) -E -x c - >/dev/null 2>&1 || { \
	    echo "make: cmocka is not installed: run 'apt-get install libcmocka-dev' (Debian/Ubuntu)" >&2; \
	    exit 1; }

$(O)/tests/group/%: tests/group/%.c $(wildcard tests/group/*.h) lib/singleflight.h \
                    $(O)/libsingleflight.a | sf-check-cmocka
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(O)/libsingleflight.a -lcmocka $(LDLIBS)

# The example links the shared library, as a user's program would, found
# through a relative rpath so that it runs from the build tree.
$(SF_EXAMPLE): tests/examples/slow_lookup.c lib/singleflight.h $(O)/libsingleflight.so
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    -L$(O) -Wl,-rpath,'$$ORIGIN/../..' -lsingleflight $(LDLIBS)

# Sanitizer reports must fail the run, not scroll by.
SF_SAN_ENV = ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
             UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
             TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# singleflight(3) quotes the example whole: fail when they drift apart.
SF_MAN_EXAMPLE = awk '/^\.\\" END /{p=0} p && !/^\.(Bd|Ed)( |$$)/ {print} \
                 /^\.\\" BEGIN tests\/examples\/slow_lookup\.c$$/{p=1}' man/singleflight.3 | \
                 sed -e 's/^\\&//' -e 's/\\e/\\/g'

check-singleflight: $(SF_GROUP_TESTS) $(SF_EXAMPLE)
	@set -e; for t in $(SF_GROUP_TESTS); do \
	    echo "# $$t"; $(SF_SAN_ENV) CMOCKA_MESSAGE_OUTPUT=TAP $$t; \
	done; \
	echo "# $(SF_EXAMPLE)"; $(SF_SAN_ENV) $(SF_EXAMPLE); \
	$(SF_MAN_EXAMPLE) | cmp -s - tests/examples/slow_lookup.c || { \
	    echo "make: man/singleflight.3 EXAMPLES differs from tests/examples/slow_lookup.c" >&2; \
	    exit 1; }

check-singleflight-tsan:
	$(MAKE) O=build/san-thread SANITIZE=thread check-singleflight

# ---- bench -----------------------------------------------------------------
SF_BENCH = $(O)/tests/bench/singleflight/bench

$(SF_BENCH): tests/bench/singleflight/bench.c lib/singleflight.h $(O)/libsingleflight.a
	@mkdir -p $(@D)
	$(CC) $(SF_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SF_LDFLAGS) $(LDFLAGS) -o $@ $< \
	    $(O)/libsingleflight.a $(LDLIBS)

bench-singleflight: $(SF_BENCH)
	tests/bench/singleflight/run $(SF_BENCH) $(abspath $(O))/bench-singleflight

# ---- install ---------------------------------------------------------------
# singleflight.pc is written at install time so that it always names the
# PREFIX and LIBDIR of this install, whatever the build used.
SF_PC_LIBDIR     = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
SF_PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))

install-singleflight: $(O)/libsingleflight.a $(O)/libsingleflight.so
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(MANDIR)/man3
	install -m 0644 $(O)/libsingleflight.a $(DESTDIR)$(LIBDIR)/libsingleflight.a
	install -m 0755 $(O)/$(SF_SOREAL) $(DESTDIR)$(LIBDIR)/$(SF_SOREAL)
	ln -sf $(SF_SOREAL) $(DESTDIR)$(LIBDIR)/$(SF_SONAME)
	ln -sf $(SF_SONAME) $(DESTDIR)$(LIBDIR)/libsingleflight.so
	install -m 0644 lib/singleflight.h $(DESTDIR)$(INCLUDEDIR)/singleflight.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(SF_PC_LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(SF_PC_INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    lib/singleflight.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/singleflight.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/singleflight.pc
	install -m 0644 man/singleflight.3 $(DESTDIR)$(MANDIR)/man3/singleflight.3
	for f in $(SF_MANLINKS); do \
	    ln -sf singleflight.3 $(DESTDIR)$(MANDIR)/man3/$$f.3; \
	done

uninstall-singleflight:
	rm -f $(DESTDIR)$(LIBDIR)/libsingleflight.a \
	    $(DESTDIR)$(LIBDIR)/$(SF_SOREAL) $(DESTDIR)$(LIBDIR)/$(SF_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libsingleflight.so \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/singleflight.pc \
	    $(DESTDIR)$(INCLUDEDIR)/singleflight.h \
	    $(DESTDIR)$(MANDIR)/man3/singleflight.3
	for f in $(SF_MANLINKS); do rm -f $(DESTDIR)$(MANDIR)/man3/$$f.3; done

.PHONY: check-singleflight check-singleflight-tsan bench-singleflight \
        install-singleflight uninstall-singleflight sf-check-cmocka
