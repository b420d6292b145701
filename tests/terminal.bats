#!/usr/bin/env bats
# The starter's terminal (issue 8, row 4 and guarantee 5): the command reads
# it only while the starter is attached; after that it sees end of file, and
# nothing typed later reaches it.

bats_require_minimum_version 1.5.0
load helpers

@test "a terminal is lent to the command while the starter is attached, then end of file" {
	local pty
	: >"$T/screen"
	# the command echoes what it reads, says EOF, then waits for the test
	PTYRUN_LOG=$T/screen "$TOOLS/ptyrun" \
		expect=ready send='hello\n' expect='got: hello' wait="$T/B.attached" \
		send='\x03' status send='after\n' -- \
		"$SFEXEC" -v -k rd -- sh -c 'echo ready; while read x; do echo "got: $x"; done; echo EOF; "$1" gate "$2"' \
		_ "$FC" "$T/gate" >"$T/pty.status" 2>"$T/pty.err" </dev/null &
	pty=$!
	echo "$pty" >>"$T/.pids"
	wait_for 10 file_has "$T/screen" ready
	spawn B -v -k rd -- true
	wait_attached 10 B
	touch "$T/B.attached"
	wait "$pty" || fail "ptyrun: $(cat "$T/pty.err")"
	assert_equal "status 130" "$(cat "$T/pty.status")" "the starter after ^C"
	# the command saw end of file once the starter was gone ...
	wait_for 10 file_has "$T/B.out" EOF
	touch "$T/gate"
	reap B
	assert_rc B 0
	# ... and nothing typed after that reached it
	assert_file_is "$T/B.out" $'ready\ngot: hello\nEOF\n'
}

@test "a background starter neither reads the terminal nor stops on SIGTTIN; after fg the command reads it" {
	local out
	out=$(PTYRUN_LOG=$T/screen "$TOOLS/ptyrun" \
		expect='$ ' \
		send="\"\$SFEXEC\" -k bg -- sh -c 'read x; echo \"got: \$x\" >$T/bg.out' & echo started\n" \
		expect=started expect='$ ' \
		send='echo typed-for-the-shell\n' expect='typed-for-the-shell' expect='$ ' \
		send='fg\n' send='for-the-command\n' wait="$T/bg.out" expect='$ ' \
		send='exit\n' status -- \
		env PS1='$ ' SFEXEC="$SFEXEC" SFEXEC_DIR="$SFEXEC_DIR" bash --norc -i)
	assert_equal "status 0" "$out" "the interactive shell's exit"
	wait_for 5 file_has "$T/bg.out" for-the-command
	assert_file_is "$T/bg.out" $'got: for-the-command\n'
	! grep -q 'Stopped' "$T/screen" || fail "the background job was stopped: $(cat "$T/screen")"
}

@test "typing after the command closed its stdin does not kill the starter (no SIGPIPE)" {
	local pty
	: >"$T/screen"
	PTYRUN_LOG=$T/screen "$TOOLS/ptyrun" \
		expect=ready send='typed\n' wait="$T/gate" expect=done status -- \
		"$SFEXEC" -k closed -- sh -c 'exec 0<&-; echo ready; "$1" gate "$2"; echo done' \
		_ "$FC" "$T/gate" >"$T/pty.status" 2>"$T/pty.err" </dev/null &
	pty=$!
	echo "$pty" >>"$T/.pids"
	wait_for 10 file_has "$T/screen" typed
	sleep 0.3       # the window in which a SIGPIPE would kill the starter
	touch "$T/gate"
	wait "$pty" || fail "ptyrun: $(cat "$T/pty.err")"
	assert_equal "status 0" "$(cat "$T/pty.status")" "the starter's status"
}
