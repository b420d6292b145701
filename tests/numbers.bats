#!/usr/bin/env bats
# Durations of -w and --grace (issue 8, guarantee 9): the syntax of
# timeout(1) (N, N.N, a suffix s, m, h or d), at most 365 days, anything
# else refused with 125 and one line; the timeout message in words.  The
# same for the cache's durations (issue 9: --ttl, never 0, and the stale
# windows), and the other values and combinations of its options.

bats_require_minimum_version 1.5.0
load helpers

# hold KEY: start invocation A, whose command writes 'held' and then waits
# for a line on the FIFO $T/fifo; returns once 'held' arrived.
hold() {
	mkfifo "$T/fifo"
	spawn A -v -k "$1" -- "$FC" pgid "$T/cmd.pgid" out 'held\n' exec cat "$T/fifo"
	wait_for 10 file_has "$T/A.out" held
}

# release: let A's command end (one line into the FIFO) and check A got it.
release() {
	# shellcheck disable=SC2016 # $1 is for the inner sh
	timeout 10 sh -c 'echo done >"$1"' sh "$T/fifo" || fail "nobody reads $T/fifo"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'held\ndone\n'
}

# times_out_after ARG MIN_MS WORDS: with the flight of hold() running,
# `sfexec -w ARG` is 124 after MIN_MS milliseconds at least (and not much
# more), has the output so far, and says "timed out after WORDS".
times_out_after() {
	local arg=$1 min=$2 words=$3 t0 ms
	t0=$(now_ms)
	sfrun -w "$arg" -k held -- "$FC" touch "$T/ran"
	ms=$(($(now_ms) - t0))
	assert_status 124
	assert_file_is "$T/run.out" $'held\n'
	assert_err_line "$T/run.err" "sfexec: timed out after $words"
	((ms >= min)) || fail "-w $arg: timed out after $ms ms, before $min ms"
	((ms < min + 4000)) || fail "-w $arg: timed out after $ms ms, long after $min ms"
	[[ ! -e $T/ran ]] || fail "the joiner's command ran"
}

# ---- accepted ---------------------------------------------------------------

@test "-w accepts N, N.N, .N, N., NeM and the suffixes s, m, h, d up to 365 days" {
	local w
	for w in 30 30.5 .5e2 30. 3e1 30s 1m 0.5h 1.5d 365d 8760h 525600m 31536000 \
		31536000.000 365.0d; do
		sfrun -w "$w" -k "w$w" -- "$FC" out 'ok\n'
		assert_status 0
		assert_file_is "$T/run.out" $'ok\n'
		assert_empty "$T/run.err"
	done
}

@test "--grace accepts N, N.N, 1e-3, 0 and the suffixes s, m, h, d up to 365 days" {
	local g
	for g in 0 1 2.5 1e-3 .25 0s 2m 0.5h 1.5d 365d 8760h 31536000; do
		sfrun --grace "$g" -k "g$g" -- "$FC" out 'ok\n'
		assert_status 0
		assert_file_is "$T/run.out" $'ok\n'
		assert_empty "$T/run.err"
	done
	sfrun --grace=2m --wait-timeout=1h -k long -- "$FC" out 'ok\n'
	assert_status 0
	assert_file_is "$T/run.out" $'ok\n'
}

# ---- what the suffixes mean ------------------------------------------------

@test "-w 1s times out a blocked invocation after 1 s: 'timed out after 1 second'" {
	hold held
	times_out_after 1s 1000 "1 second"
	release
}

@test "-w 1 (no suffix) says '1 second'; -w 0.25 says '0.25 seconds'" {
	hold held
	times_out_after 1 1000 "1 second"
	times_out_after 0.25 250 "0.25 seconds"
	release
}

@test "-w with m, h, d suffixes: 0.02m is 1.2 s, 0.0003h 1.08 s, 0.00001d 0.864 s" {
	hold held
	times_out_after 0.02m 1200 "0.02 minutes"
	times_out_after 0.0003h 1080 "0.0003 hours"
	times_out_after 0.00001d 864 "0.00001 days"
	release
}

@test "-w 1e-3 is still accepted: 1 ms, 'timed out after 1e-3 seconds'" {
	hold held
	sfrun -w 1e-3 -k held -- "$FC" touch "$T/ran"
	assert_status 124
	# 1 ms may pass before the spool's 'held' reached us
	[[ $output == '' || $output == held ]] || fail "stdout: $(printf %q "$output")"
	assert_err_line "$T/run.err" "sfexec: timed out after 1e-3 seconds"
	[[ ! -e $T/ran ]] || fail "the joiner's command ran"
	release
}

@test "--grace 365d: a command that traps SIGTERM is not killed at once" {
	# The only invocation goes; the command traps SIGTERM and, once
	# released, leaves a marker.  An overflowed grace period (the old
	# --grace 1e13) sent SIGKILL with the SIGTERM: no marker.
	spawn A -v --grace 365d -k gr -- "$FC" pgid "$T/cmd.pgid" \
		trapterm "$T/sig" out 'ready\n' gate "$T/gate" touch "$T/survived"
	wait_for 10 file_has "$T/A.out" ready
	kill -KILL "${PIDS[A]}"
	reap A
	wait_for 10 file_has "$T/sig" TERM
	touch "$T/gate"
	wait_for 10 test -e "$T/survived"
	local pg
	read -r pg <"$T/cmd.pgid"
	wait_for 5 pg_gone "$pg"
}

# ---- refused: out of range --------------------------------------------------

@test "--grace 1e13 is refused: 125 and one line" {
	usage_error "sfexec: invalid grace period '1e13': more than 365 days$USAGE_TAIL" \
		--grace 1e13 -k K -- touch "$T/ran"
}

@test "-w beyond 365 days is refused: 125 and one line" {
	local w
	for w in 1e13 9223372036854775 99999999999999999999999 1e999999 366d \
		365.0000001d 8761h 525601m 31536001 31536000.001 1e8; do
		usage_error "sfexec: invalid wait timeout '$w': more than 365 days$USAGE_TAIL" \
			-w "$w" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid wait timeout '366d': more than 365 days$USAGE_TAIL" \
		--wait-timeout=366d -- touch "$T/ran"
}

@test "--grace beyond 365 days is refused: 125 and one line" {
	local g
	for g in 9223372036854775 366d 8761h 31536001; do
		usage_error "sfexec: invalid grace period '$g': more than 365 days$USAGE_TAIL" \
			--grace "$g" -k K -- touch "$T/ran"
	done
}

# ---- refused: not a duration ------------------------------------------------

@test "-w refuses a sign, NaN, infinity, hex, empty, spaces, junk and other suffixes" {
	local w
	for w in -1 -0 +1 -1s nan NaN inf infinity 0x10 0X1p3 '' ' 1' '1 ' 1x 1ms \
		1sec 1S 1M 1.5.5 . .s e3 1e 1e+ 1es 1s2 s 1d1 '1 s'; do
		usage_error "sfexec: invalid wait timeout '$w'$USAGE_TAIL" -w "$w" -k K -- touch "$T/ran"
	done
}

@test "--grace refuses a sign, NaN, infinity, hex, empty and junk" {
	local g
	for g in -2 -0 nan inf 0x10 '' 3x 3sec 1e 2mm; do
		usage_error "sfexec: invalid grace period '$g'$USAGE_TAIL" --grace "$g" -k K -- touch "$T/ran"
	done
}

# ---- the cache's options (issue 9) ------------------------------------------

@test "--ttl and the stale windows accept what -w accepts; the windows also 0" {
	local d
	mkdir -m 0700 "$T/cache"
	for d in 1 30.5 .5e2 1e-3 30s 1m 0.5h 1.5d 365d 8760h 31536000 365.0d; do
		sfrun --ttl "$d" --stale-while-revalidate "$d" --stale-if-error "$d" \
			-k "t$d" -- "$FC" out 'ok\n'
		assert_status 0
		assert_file_is "$T/run.out" $'ok\n'
		assert_empty "$T/run.err"
	done
	for d in 0 0s 0.0 0e9 .0d; do
		sfrun --ttl 1 --stale-while-revalidate="$d" --stale-if-error="$d" \
			--cache-failures --refresh --cache-dir "$T/cache" -k "w$d" -- "$FC" out 'ok\n'
		assert_status 0
		assert_file_is "$T/run.out" $'ok\n'
		assert_empty "$T/run.err"
	done
	# the options needing --ttl may come before it
	sfrun --refresh --cache-failures --stale-if-error 1 --stale-while-revalidate 1 \
		--ttl=2m -k before -- "$FC" out 'ok\n'
	assert_status 0
	assert_file_is "$T/run.out" $'ok\n'
}

@test "--ttl 0 is refused, however written: 125 and one line" {
	local d
	for d in 0 0s 0.0 00 0e9 .0d 0m; do
		usage_error "sfexec: invalid TTL '$d': must be more than 0$USAGE_TAIL" \
			--ttl "$d" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid TTL '0': must be more than 0$USAGE_TAIL" \
		--ttl=0 -k K -- touch "$T/ran"
}

@test "--ttl and the stale windows beyond 365 days are refused: 125 and one line" {
	local d
	for d in 366d 8761h 31536001 1e13 365.0000001d; do
		usage_error "sfexec: invalid TTL '$d': more than 365 days$USAGE_TAIL" \
			--ttl "$d" -k K -- touch "$T/ran"
		usage_error "sfexec: invalid stale-while-revalidate window '$d': more than 365 days$USAGE_TAIL" \
			--ttl 1 --stale-while-revalidate "$d" -k K -- touch "$T/ran"
		usage_error "sfexec: invalid stale-if-error window '$d': more than 365 days$USAGE_TAIL" \
			--ttl 1 --stale-if-error "$d" -k K -- touch "$T/ran"
	done
}

@test "--ttl and the stale windows refuse what -w refuses: 125 and one line" {
	local d
	for d in -1 -0 +1 nan inf 0x10 '' ' 1' 1x 1ms 1S 1.5.5 . 1e; do
		usage_error "sfexec: invalid TTL '$d'$USAGE_TAIL" --ttl "$d" -k K -- touch "$T/ran"
		usage_error "sfexec: invalid stale-while-revalidate window '$d'$USAGE_TAIL" \
			--ttl 1 --stale-while-revalidate "$d" -k K -- touch "$T/ran"
		usage_error "sfexec: invalid stale-if-error window '$d'$USAGE_TAIL" \
			--ttl 1 --stale-if-error "$d" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid TTL ''$USAGE_TAIL" --ttl= -k K -- touch "$T/ran"
}

@test "--stale-while-revalidate, --stale-if-error, --cache-failures and --refresh need --ttl" {
	usage_error "sfexec: --stale-while-revalidate needs --ttl$USAGE_TAIL" \
		--stale-while-revalidate 1 -k K -- touch "$T/ran"
	usage_error "sfexec: --stale-if-error needs --ttl$USAGE_TAIL" \
		--stale-if-error 0 -k K -- touch "$T/ran"
	usage_error "sfexec: --cache-failures needs --ttl$USAGE_TAIL" \
		--cache-failures -k K -- touch "$T/ran"
	usage_error "sfexec: --refresh needs --ttl$USAGE_TAIL" \
		--refresh -k K -- touch "$T/ran"
	# several: the first of this list is named, whatever their order
	usage_error "sfexec: --stale-while-revalidate needs --ttl$USAGE_TAIL" \
		--refresh --stale-if-error 1 --stale-while-revalidate=1 -- touch "$T/ran"
	[[ ! -e $SFEXEC_DIR ]] || fail "a usage error made the runtime directory"
}

@test "--cache-dir alone is accepted (the environment may set it for every call)" {
	mkdir -m 0700 "$T/cache"
	sfrun --cache-dir "$T/cache" -k K -- "$FC" out 'ok\n'
	assert_status 0
	assert_file_is "$T/run.out" $'ok\n'
	assert_empty "$T/run.err"
}

@test "--key-env takes an environment variable's name, nothing else: 125 and one line" {
	local n
	for n in A a _ _1 A_B9 abc PATH; do
		sfrun --key-env "$n" -k "e$n" -- "$FC" out 'ok\n'
		assert_status 0
		assert_file_is "$T/run.out" $'ok\n'
		assert_empty "$T/run.err"
	done
	# shellcheck disable=SC2016 # '$A' is the name as written, not expanded
	for n in '' 1A 9 A-B A=B 'A B' ' A' 'A ' A.B '$A' é 'A*'; do
		usage_error "sfexec: invalid --key-env name '$n'$USAGE_TAIL" \
			--key-env "$n" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid --key-env name 'A=1'$USAGE_TAIL" \
		--key-env=A=1 -k K -- touch "$T/ran"
}

@test "--key-file and --cache-dir refuse an empty path: 125 and one line" {
	usage_error "sfexec: --key-file path must not be empty$USAGE_TAIL" \
		--key-file '' -k K -- touch "$T/ran"
	usage_error "sfexec: --key-file path must not be empty$USAGE_TAIL" \
		--key-file= -- touch "$T/ran"
	usage_error "sfexec: --cache-dir path must not be empty$USAGE_TAIL" \
		--ttl 1 --cache-dir '' -k K -- touch "$T/ran"
}

@test "the cache's options without their argument: 125 and one line" {
	local o
	for o in --ttl --stale-while-revalidate --stale-if-error --cache-dir \
		--key-env --key-file; do
		usage_error "sfexec: option '$o' needs an argument$USAGE_TAIL" "$o"
	done
}

@test "--help lists the cache and key options, under their headings" {
	run --separate-stderr "$SFEXEC" --help
	assert_status 0
	local opt re
	for opt in --ttl --stale-while-revalidate --stale-if-error --cache-failures \
		--refresh --cache-dir --key-env --key-file; do
		re="(^|[^-[:alnum:]])$opt([^-[:alnum:]]|\$)"
		[[ $output =~ $re ]] || fail "--help does not mention $opt"
	done
	assert_match $'\nCaching:\n' "$output" "help text"
	assert_match $'\nKey:\n' "$output" "help text"
}

# ---- the fleet's options (issue 11) -----------------------------------------
# Only refusals here: the parser gives them before anything else happens.
# What the accepted values mean is the fleet's to test.

@test "--lease refuses less than 1 second, more than 1 day, and what -w refuses" {
	local d
	for d in 0 0.5 0.999 0s 1e-3 .5s; do
		usage_error "sfexec: invalid lease '$d': must be at least 1 second$USAGE_TAIL" \
			--lease "$d" -k K -- touch "$T/ran"
	done
	for d in 2d 1.0000001d 24.001h 1441m 86401 86400.001 366d 1e13; do
		usage_error "sfexec: invalid lease '$d': more than 1 day$USAGE_TAIL" \
			--lease "$d" -k K -- touch "$T/ran"
	done
	for d in abc -1 -0 +1 '' ' 1' 1x 1ms nan inf 0x10 1e; do
		usage_error "sfexec: invalid lease '$d'$USAGE_TAIL" --lease "$d" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid lease ''$USAGE_TAIL" --lease= -k K -- touch "$T/ran"
	# each one given is checked, not only the last
	usage_error "sfexec: invalid lease '0': must be at least 1 second$USAGE_TAIL" \
		--lease 0 --lease 10 -k K -- touch "$T/ran"
}

@test "--redis-max-bytes refuses a sign, fractions, other suffixes, empty, more than 1 PiB" {
	local n
	for n in -1 +1 1.5M 1X 1P 2P '' ' 1' '1 ' '1 M' K 1iB 1Mi 1mb 1Kb 1b 1MBB 1KM 0x10 1e3; do
		usage_error "sfexec: invalid --redis-max-bytes '$n'$USAGE_TAIL" \
			--redis-max-bytes "$n" -k K -- touch "$T/ran"
	done
	for n in 99999999999999999999 1125899906842625 1025T 1048577G 2251799813685248K; do
		usage_error "sfexec: invalid --redis-max-bytes '$n': more than 1 PiB$USAGE_TAIL" \
			--redis-max-bytes "$n" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid --redis-max-bytes ''$USAGE_TAIL" \
		--redis-max-bytes= -k K -- touch "$T/ran"
}

@test "--redis-prefix refuses empty, over 64 bytes, spaces, braces, control and non-ASCII bytes" {
	local p msg="sfexec: --redis-prefix must be 1 to 64 bytes of printable ASCII, without spaces, '{' or '}'$USAGE_TAIL"
	for p in '' 'a b' ' ' '{x}' 'a{' '}' $'a\tb' $'a\x7f' $'a\x01' 'é' \
		"$(printf 'a%.0s' {1..65})"; do
		usage_error "$msg" --redis-prefix "$p" -k K -- touch "$T/ran"
	done
	usage_error "$msg" --redis-prefix= -k K -- touch "$T/ran"
}

@test "--redis refuses an empty URL and control characters, without repeating the URL" {
	usage_error "sfexec: --redis URL must not be empty$USAGE_TAIL" \
		--redis '' -k K -- touch "$T/ran"
	usage_error "sfexec: --redis URL must not be empty$USAGE_TAIL" \
		--redis= -k K -- touch "$T/ran"
	local u
	for u in $'redis://h\n' $'redis://h\tx' $'redis://h\x7f' $'\x1bredis://h'; do
		usage_error "sfexec: --redis URL must not hold control characters$USAGE_TAIL" \
			--redis "$u" -k K -- touch "$T/ran"
	done
}

@test "the fleet's options without their argument: 125 and one line" {
	local o
	for o in --redis --redis-prefix --lease --redis-max-bytes; do
		usage_error "sfexec: option '$o' needs an argument$USAGE_TAIL" "$o"
	done
}
