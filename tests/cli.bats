#!/usr/bin/env bats
# Options, usage errors, exit statuses, exec failures (contract: Synopsis,
# Exit status; behaviours 3 and 7).

bats_require_minimum_version 1.5.0
load helpers

# usage_error_like REGEX ARGS...: as usage_error, message matched by REGEX
# (for getopt texts the contract does not spell out).
usage_error_like() {
	local re=$1
	shift
	sfrun "$@"
	assert_status 125
	assert_empty "$T/run.out"
	assert_equal 1 "$(lines_in "$T/run.err")" "number of stderr lines"
	assert_match "$re" "$stderr" "stderr"
	[[ ! -e $T/ran ]] || fail "the command ran"
}

# ---- success paths ------------------------------------------------------

@test "plain run: stdout and stderr are exactly the command's, status 0" {
	sfrun -k k1 -- "$FC" out 'hello\n' err 'warn\n' out 'no newline'
	assert_status 0
	assert_file_is "$T/run.out" $'hello\nno newline'
	assert_file_is "$T/run.err" $'warn\n'
}

@test "command exit status passes through (42)" {
	sfrun -k k1 -- "$FC" out 'x\n' exit 42
	assert_status 42
	assert_file_is "$T/run.out" $'x\n'
	assert_empty "$T/run.err"
}

@test "command killed by SIGTERM -> 143, by SIGUSR1 -> 138" {
	sfrun -k k1 -- "$FC" kill TERM
	assert_status 143
	assert_empty "$T/run.err"
	sfrun -k k1 -- "$FC" kill USR1
	assert_status 138
	assert_empty "$T/run.err"
}

@test "status passes through for the starter and a joiner alike (signal 9 -> 137)" {
	spawn A -v -k st -- "$FC" gate "$T/gate" kill KILL
	wait_attached 10 A
	spawn B -v -k st -- "$FC" exit 0
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	assert_rc A 137
	assert_rc B 137
	assert_joined B A
}

@test "no --key: derived key runs the command (argv + cwd)" {
	sfrun -- "$FC" out 'derived\n' exit 3
	assert_status 3
	assert_file_is "$T/run.out" $'derived\n'
	assert_empty "$T/run.err"
}

@test "--key=K, --dir=D, --wait-timeout=S, --grace=S long forms with '='" {
	spawn A --key=kk --dir="$T/d2" --wait-timeout=20 --grace=1 -- "$FC" out 'ok\n' gate "$T/gate"
	wait_for 10 test -S "$T/d2/$(keyhash kk).sock"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'ok\n'
	[[ -z $(ls -A "$T/d2") ]] || fail "left in --dir: $(ls -A "$T/d2")"
}

@test "4096-byte key is accepted" {
	local key
	key=$(printf 'a%.0s' {1..4096})
	spawn A -k "$key" -- "$FC" out 'ok\n' gate "$T/gate"
	wait_for 10 test -S "$SFEXEC_DIR/$(keyhash "$key").sock"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'ok\n'
}

# ---- option termination and -- -----------------------------------------

@test "options end at the first non-option word: sfexec -k K echo -n hi" {
	sfrun -k K echo -n hi
	assert_status 0
	assert_file_is "$T/run.out" 'hi'
	assert_empty "$T/run.err"
}

@test "options end at the command without -k: sfexec echo -v -q x passes -v -q to echo" {
	sfrun echo -v -q x
	assert_status 0
	assert_file_is "$T/run.out" $'-v -q x\n'
	assert_empty "$T/run.err"
}

@test "-- ends options: sfexec -k K -- echo -k -V" {
	sfrun -k K -- echo -k -V
	assert_status 0
	assert_file_is "$T/run.out" $'-k -V\n'
	assert_empty "$T/run.err"
}

@test "-- lets a command start with '-': sfexec -k K -- -weird is not an option (127)" {
	sfrun -k K -- -weird
	assert_status 127
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" "sfexec: failed to run command '-weird': No such file or directory"
}

# ---- usage errors ---------------------------------------------------------

@test "usage: no arguments -> missing command" {
	usage_error "sfexec: missing command$USAGE_TAIL"
}

@test "usage: options but no command -> missing command" {
	usage_error "sfexec: missing command$USAGE_TAIL" -k K
	usage_error "sfexec: missing command$USAGE_TAIL" -k K --
}

@test "usage: unrecognized long option" {
	usage_error "sfexec: unrecognized option '--foo'$USAGE_TAIL" --foo -- touch "$T/ran"
}

@test "usage: invalid short option" {
	usage_error_like "^sfexec: .*'?x'?.*; try 'sfexec --help'\$" -x -- touch "$T/ran"
}

@test "usage: option missing its argument (-k, --key, -w, -d, --grace)" {
	usage_error_like "^sfexec: .*; try 'sfexec --help'\$" -k
	usage_error_like "^sfexec: .*; try 'sfexec --help'\$" --key
	usage_error_like "^sfexec: .*; try 'sfexec --help'\$" -w
	usage_error_like "^sfexec: .*; try 'sfexec --help'\$" -d
	usage_error_like "^sfexec: .*; try 'sfexec --help'\$" --grace
}

@test "usage: invalid wait timeout (abc, -1, 1x, empty, nan)" {
	local w
	for w in abc -1 1x '' nan; do
		usage_error "sfexec: invalid wait timeout '$w'$USAGE_TAIL" -w "$w" -k K -- touch "$T/ran"
	done
	usage_error "sfexec: invalid wait timeout 'abc'$USAGE_TAIL" --wait-timeout abc -- touch "$T/ran"
}

@test "usage: invalid grace period (x, -2, 3x)" {
	local g
	for g in x -2 3x; do
		usage_error "sfexec: invalid grace period '$g'$USAGE_TAIL" --grace "$g" -k K -- touch "$T/ran"
	done
}

@test "usage: empty key" {
	usage_error "sfexec: key must be 1 to 4096 bytes$USAGE_TAIL" -k '' -- touch "$T/ran"
	usage_error "sfexec: key must be 1 to 4096 bytes$USAGE_TAIL" --key= -- touch "$T/ran"
}

@test "usage: 4097-byte key" {
	local key
	key=$(printf 'a%.0s' {1..4097})
	usage_error "sfexec: key must be 1 to 4096 bytes$USAGE_TAIL" -k "$key" -- touch "$T/ran"
}

@test "usage errors create no runtime directory" {
	usage_error "sfexec: invalid wait timeout 'abc'$USAGE_TAIL" -w abc -k K -- touch "$T/ran"
	[[ ! -e $SFEXEC_DIR ]] || fail "runtime dir created on a usage error"
}

@test "-q does not silence usage errors" {
	usage_error "sfexec: missing command$USAGE_TAIL" -q -k K
}

# ---- help and version -----------------------------------------------------

@test "--help: usage on stdout, exit 0, mentions every option" {
	run --separate-stderr "$SFEXEC" --help
	assert_status 0
	assert_equal "" "$stderr" "stderr"
	local opt re
	for opt in -k --key -d --dir -n --no-wait -w --wait-timeout --grace \
		-v --verbose -q --quiet -h --help -V --version; do
		# a whole word: "-k" inside "--key" does not count
		re="(^|[^-[:alnum:]])$opt([^-[:alnum:]]|\$)"
		[[ $output =~ $re ]] || fail "--help does not mention $opt"
	done
	assert_match 'sfexec' "${lines[0]}" "first line"
	assert_match 'COMMAND' "$output" "help text"
}

@test "every long option in --help is in the man page's SYNOPSIS and OPTIONS, and back" {
	local man=$BATS_TEST_DIRNAME/../man/sfexec.1 help opts mopts o
	help=$("$SFEXEC" --help)
	opts=$(grep -oE -- '--[a-z][-a-z]+' <<<"$help" | sort -u)
	# the man page writes --name as "Fl Fl name"
	mopts=$(sed -n '/^\.Sh OPTIONS/,/^\.Sh /p' "$man" | grep -oE 'Fl Fl [a-z][-a-z]+' |
		sed 's/^Fl Fl /--/' | sort -u)
	for o in $opts; do
		grep -qE "^\.It .*Fl Fl ${o#--}( |\$)" "$man" || fail "$o is not an .It of the man page"
		# the SYNOPSIS gives the short form where there is one
		grep -qE -- "-[a-zA-Z], $o( |\$)" <<<"$help" && continue
		sed -n '/^\.Sh SYNOPSIS/,/^\.Sh /p' "$man" | grep -qE "Fl Fl ${o#--}( |\$)" ||
			fail "$o is not in the SYNOPSIS"
	done
	for o in $mopts; do
		grep -qE -- "(^|[^-[:alnum:]])$o([^-[:alnum:]]|\$)" <<<"$help" ||
			fail "the man page's $o is not in --help"
	done
}

@test "-h is --help and runs nothing" {
	run --separate-stderr "$SFEXEC" --help
	local long=$output
	run --separate-stderr "$SFEXEC" -h -k K -- touch "$T/ran"
	assert_status 0
	assert_equal "$long" "$output" "-h output"
	assert_equal "" "$stderr" "stderr"
	[[ ! -e $T/ran ]] || fail "-h ran the command"
}

@test "--version and -V print 'sfexec 0.1.0'" {
	sfrun --version
	assert_status 0
	assert_file_is "$T/run.out" $'sfexec 0.1.0\n'
	assert_empty "$T/run.err"
	sfrun -V
	assert_status 0
	assert_file_is "$T/run.out" $'sfexec 0.1.0\n'
	assert_empty "$T/run.err"
}

# ---- exec failures (126/127) ----------------------------------------------

@test "command not found -> 127 with one message" {
	sfrun -k K -- "$T/no-such-command" arg
	assert_status 127
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" "sfexec: failed to run command '$T/no-such-command': No such file or directory"
}

@test "command not found in PATH -> 127" {
	sfrun -k K -- sfexec-no-such-command-xyz
	assert_status 127
	assert_err_line "$T/run.err" "sfexec: failed to run command 'sfexec-no-such-command-xyz': No such file or directory"
}

@test "command found but not executable -> 126 Permission denied" {
	printf '#!/bin/sh\necho hi\n' >"$T/noexec"
	chmod 0644 "$T/noexec"
	sfrun -k K -- "$T/noexec"
	assert_status 126
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" "sfexec: failed to run command '$T/noexec': Permission denied"
}

@test "a directory as command -> 126" {
	mkdir "$T/adir"
	sfrun -k K -- "$T/adir"
	assert_status 126
	assert_match "^sfexec: failed to run command '$T/adir': " "$stderr" "stderr"
	assert_equal 1 "$(lines_in "$T/run.err")" "stderr lines"
}

@test "exit 127/126 from the command itself pass through without a message" {
	sfrun -k K -- "$FC" exit 127
	assert_status 127
	assert_empty "$T/run.err"
	sfrun -k K -- "$FC" exit 126
	assert_status 126
	assert_empty "$T/run.err"
}

# exec_failure_racing_joiner PATH STATUS STRERROR: the starter's execve of
# PATH is held back 2 s by strace, and a joiner connects to the flight's
# socket meanwhile.  Whether the joiner gets attached before the failure ends
# the flight is the engine's business (an engine that starts the command with
# vfork before it accepts anyone never lets it); either way it must not hang
# or fail: attached, it reports the starter's failure (the starter's argv[0],
# its own command `flightcmd` ignored); not attached, it starts a flight of
# its own.
exec_failure_racing_joiner() {
	local path=$1 want=$2 err=$3
	strace -f -qq -o /dev/null -e trace=execve -e inject=execve:delay_enter=1000 \
		-P "$path" true 2>/dev/null || skip "strace cannot trace here"
	# (LeakSanitizer cannot run under ptrace: off for a sanitizer build)
	(exec env --default-signal=INT,QUIT,PIPE,TERM \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -o /dev/null -P "$path" \
		-e trace=execve -e inject=execve:delay_enter=2000000 \
		"$SFEXEC" -v -k ef -- "$path") </dev/null >"$T/A.out" 2>"$T/A.err" 3>&- &
	PIDS[A]=$!
	echo $! >>"$T/.pids"
	wait_for 10 test -S "$SFEXEC_DIR/$(keyhash ef).sock"
	spawn B -v -k ef -- "$FC" count "$T/count" out 'B ran\n'
	reap A; reap B
	assert_rc A "$want"
	assert_err_after_vline A "sfexec: failed to run command '$path': $err"$'\n'
	assert_empty "$T/A.out"
	if [[ $(vline B) =~ $VLINE_JOINED ]]; then
		echo "# the joiner got attached before the exec failure" >&3
		assert_rc B "$want"
		assert_err_after_vline B "sfexec: failed to run command '$path': $err"$'\n'
		assert_empty "$T/B.out"
		assert_count "$T/count" 0
	else
		assert_started B
		assert_rc B 0
		assert_file_is "$T/B.out" $'B ran\n'
		assert_err_after_vline B ''
		assert_count "$T/count" 1
	fi
}

@test "127: a joiner racing the exec failure gets the starter's 127 or runs its own flight" {
	exec_failure_racing_joiner "$T/missing" 127 "No such file or directory"
}

@test "126: a joiner racing the exec failure gets the starter's 126 or runs its own flight" {
	printf '#!/bin/sh\n' >"$T/noexec"
	chmod 0644 "$T/noexec"
	exec_failure_racing_joiner "$T/noexec" 126 "Permission denied"
}

# ---- -n (no wait) ---------------------------------------------------------

@test "-n when the key is busy: 75, message, nothing run, flight undisturbed" {
	spawn A -v -k busy -- "$FC" count "$T/count" out 'a\n' gate "$T/gate" out 'b\n'
	wait_attached 10 A
	sfrun -n -k busy -- "$FC" count "$T/count2"
	assert_status 75
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" "sfexec: a flight for this key is already running"
	[[ ! -e $T/count2 ]] || fail "-n ran its command"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'a\nb\n'
	assert_count "$T/count" 1
}

@test "-n -q when busy: 75 and silent" {
	spawn A -v -k busy -- "$FC" gate "$T/gate"
	wait_attached 10 A
	sfrun -q -n -k busy -- "$FC" count "$T/count2"
	assert_status 75
	assert_empty "$T/run.out"
	assert_empty "$T/run.err"
	[[ ! -e $T/count2 ]] || fail "-n ran its command"
	touch "$T/gate"
	reap A
	assert_rc A 0
}

@test "--no-wait when idle runs the command normally" {
	sfrun --no-wait -k idle -- "$FC" count "$T/count" out 'ran\n'
	assert_status 0
	assert_file_is "$T/run.out" $'ran\n'
	assert_empty "$T/run.err"
	assert_count "$T/count" 1
}

# ---- -w (wait timeout) ----------------------------------------------------

@test "-w: a joiner times out with 124, keeps what arrived; the flight goes on" {
	spawn A -v -k wt -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n' exit 5
	wait_for 10 file_has "$T/A.out" part1
	spawn B -w 0.5 -k wt -- "$FC" count "$T/count"
	reap B 10
	assert_rc B 124
	assert_file_is "$T/B.out" $'part1\n'
	assert_err_line "$T/B.err" "sfexec: timed out after 0.5 seconds"
	alive "${PIDS[A]}" || fail "starter ended with the joiner's timeout"
	touch "$T/gate"
	reap A
	assert_rc A 5
	assert_file_is "$T/A.out" $'part1\npart2\n'
	assert_count "$T/count" 1
}

@test "-w -q: 124 without the message" {
	spawn A -v -k wt -- "$FC" out 'part1\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" part1
	spawn B -q -w 0.2 -k wt -- true
	reap B 10
	assert_rc B 124
	assert_file_is "$T/B.out" $'part1\n'
	assert_empty "$T/B.err"
	touch "$T/gate"
	reap A
	assert_rc A 0
}

@test "-w applies to the starter too; a joiner still gets everything" {
	spawn A -v -w 1.5 -k wt -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	spawn B -v -k wt -- true
	wait_attached 10 B
	reap A 10
	assert_rc A 124
	assert_file_is "$T/A.out" $'part1\n'
	assert_err_after_vline A $'sfexec: timed out after 1.5 seconds\n'
	touch "$T/gate"
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'part1\npart2\n'
	assert_count "$T/count" 1
}

@test "-w not reached: normal status" {
	sfrun -w 30 -k wt -- "$FC" out 'x\n' exit 4
	assert_status 4
	assert_file_is "$T/run.out" $'x\n'
	assert_empty "$T/run.err"
}

# ---- -v and -q ------------------------------------------------------------

@test "-v: starter prints 'started flight (runner pid R)' and R owns the command" {
	spawn A -v -k vv -- "$FC" pid "$T/cmd.pids" out 'x\n' err 'e\n' gate "$T/gate"
	wait_attached 10 A
	wait_for 10 test -s "$T/cmd.pids"
	local r cmdpid cmdppid
	r=$(runner_of A)
	[[ -n $r ]] || fail "not a started line: $(vline A)"
	[[ $r != "${PIDS[A]}" ]] || fail "runner pid is the invocation's own pid"
	read -r cmdpid cmdppid <"$T/cmd.pids"
	assert_equal "$r" "$cmdppid" "parent of the command (runner pid)"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'x\n'
	assert_err_after_vline A $'e\n'
}

@test "-v: joiner prints 'joined flight (started by pid S)' with the starter's pid" {
	spawn A -v -k vv -- "$FC" gate "$T/gate" out 'x\n'
	wait_attached 10 A
	spawn B --verbose -k vv -- true
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	assert_rc A 0
	assert_rc B 0
	assert_started A
	assert_joined B A
	assert_err_after_vline B ''
	assert_file_is "$T/B.out" $'x\n'
}

@test "-v line comes before the command's stderr" {
	sfrun -v -k vv -- "$FC" err 'first\n'
	assert_status 0
	assert_equal 2 "$(lines_in "$T/run.err")" "stderr lines"
	assert_match "$VLINE_STARTED" "$(head -n1 "$T/run.err")" "first stderr line"
	assert_equal first "$(sed -n 2p "$T/run.err")" "second stderr line"
}

@test "-q on success adds nothing (same as default)" {
	sfrun -q -k qq -- "$FC" out 'o\n' err 'e\n'
	assert_status 0
	assert_file_is "$T/run.out" $'o\n'
	assert_file_is "$T/run.err" $'e\n'
}

@test "started with stdin, stdout or stderr closed: still works" {
	local rc=0
	timeout -s KILL 20 "$SFEXEC" -k c0 -- "$FC" stdin out 'ok\n' <&- >"$T/out" 2>"$T/err" 3>&- || rc=$?
	assert_equal 0 "$rc" "exit status with stdin closed"
	assert_file_is "$T/out" $'ok\n'
	assert_empty "$T/err"
	rc=0
	timeout -s KILL 20 "$SFEXEC" -k c1 -- "$FC" out 'x\n' err 'e\n' exit 3 </dev/null >&- 2>"$T/err" 3>&- || rc=$?
	assert_equal 3 "$rc" "exit status with stdout closed"
	assert_file_is "$T/err" $'e\n'
	rc=0
	timeout -s KILL 20 "$SFEXEC" -k c2 -- "$FC" out 'x\n' err 'e\n' exit 4 </dev/null >"$T/out" 2>&- 3>&- || rc=$?
	assert_equal 4 "$rc" "exit status with stderr closed"
	assert_file_is "$T/out" $'x\n'
}

# ---- fleet options (issue 11) ------------------------------------------------

@test "--lease with --list is a usage error: 125 and one line" {
	usage_error "sfexec: --lease cannot be used with --list$USAGE_TAIL" --list --lease 10
	[[ ! -e $SFEXEC_DIR ]] || fail "a usage error made the runtime directory"
}

@test "--redis-optional with --list is a usage error: 125 and one line" {
	usage_error "sfexec: --redis-optional cannot be used with --list$USAGE_TAIL" \
		--redis redis://127.0.0.1:9 --redis-optional --list
	[[ ! -e $SFEXEC_DIR ]] || fail "a usage error made the runtime directory"
}
