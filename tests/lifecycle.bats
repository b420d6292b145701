#!/usr/bin/env bats
# A flight's lifecycle as users meet it (issue 8): one command per key at
# any instant, no recursion, bounded waits, slow readers, PID namespaces,
# and a runtime directory left clean whatever happened.

bats_require_minimum_version 1.5.0
load helpers

# dir_empty DIR: nothing is left in DIR.
dir_empty() { [[ -z $(ls -A "$1" 2>/dev/null) ]]; }

assert_dir_empty() {
	wait_for 10 dir_empty "$1" || fail "left in $1: $(ls -A "$1")"
}

# ---- no recursion (row 1, guarantee 2) ------------------------------------------

@test "nested call with the same key: the inner one refuses at once (125), the outer goes on" {
	SFRUN_TIMEOUT=20 sfrun -k nest -- sh -c \
		'echo outer; "$SFEXEC" -k nest -- echo inner; echo "inner=$?"'
	assert_status 0
	assert_file_is "$T/run.out" $'outer\ninner=125\n'
	assert_file_is "$T/run.err" \
		$'sfexec: recursive call: this command runs inside the flight of its own key\n'
	assert_dir_empty "$SFEXEC_DIR"
}

@test "nested call with no output first: no deadlock" {
	SFRUN_TIMEOUT=20 sfrun -k nest0 -- sh -c '"$SFEXEC" -k nest0 -- echo inner; echo "inner=$?"'
	assert_status 0
	assert_file_is "$T/run.out" $'inner=125\n'
}

@test "nested call with a cleared environment is refused by the runner (same session)" {
	SFRUN_TIMEOUT=20 sfrun -k nestenv -- sh -c \
		'env -i PATH="$PATH" SFEXEC_DIR="$SFEXEC_DIR" "$SFEXEC" -k nestenv -- echo inner; echo "inner=$?"'
	assert_status 0
	assert_file_is "$T/run.out" $'inner=125\n'
	assert_file_is "$T/run.err" \
		$'sfexec: recursive call: this command runs inside the flight of its own key\n'
}

@test "nested call from a new session (setsid) is refused through the environment" {
	SFRUN_TIMEOUT=20 sfrun -k nestsid -- sh -c \
		'setsid -w "$SFEXEC" -k nestsid -- echo inner; echo "inner=$?"'
	assert_status 0
	assert_file_is "$T/run.out" $'inner=125\n'
}

@test "other keys nest freely, in the same runtime directory" {
	SFRUN_TIMEOUT=20 sfrun -k outer -- "$SFEXEC" -k inner -- sh -c 'echo deep'
	assert_status 0
	assert_file_is "$T/run.out" $'deep\n'
}

@test "the same key in another runtime directory is another flight" {
	SFRUN_TIMEOUT=20 sfrun -k same -- "$SFEXEC" -d "$T/other" -k same -- echo deep
	assert_status 0
	assert_file_is "$T/run.out" $'deep\n'
}

# ---- one command per key at any instant (row 3, guarantee 1) ----------------------

# A command that records its start and end, and needs a while to clean up
# after SIGTERM (until $T/cleanup-done appears).
slow_cleanup_cmd() {
	cat >"$T/slow.sh" <<-'EOF'
	#!/bin/bash
	echo "start $$" >>"$1/log"
	trap 'echo term >>"$1/log"; while [[ ! -e $1/cleanup-done ]]; do sleep 0.02; done; echo "end $$" >>"$1/log"; exit 0' TERM
	echo ready
	while :; do sleep 0.02; done
	EOF
	chmod +x "$T/slow.sh"
}

@test "abandoned command still cleaning up: -n exits 75, a waiter starts only after it is gone" {
	slow_cleanup_cmd
	spawn A -v -w 30 -k ov -- "$T/slow.sh" "$T"
	wait_for 10 file_has "$T/A.out" ready
	kill -TERM "${PIDS[A]}"          # its only invocation leaves
	reap A
	wait_for 10 file_has "$T/log" term
	# the first copy is still cleaning up: nobody may start a second
	sfrun -n -k ov -- "$T/slow.sh" "$T"
	assert_status 75
	assert_file_is "$T/run.err" $'sfexec: a flight for this key is running or shutting down\n'
	sfrun -w 0.5 -k ov -- "$T/slow.sh" "$T"
	assert_status 124
	spawn B -v -k ov -- sh -c 'echo "second $$" >>"$1/log"; echo done' _ "$T"
	sleep 0.3                        # B is waiting on the key, not running
	[[ $(grep -c second "$T/log") == 0 ]] || fail "a second copy ran during the cleanup"
	touch "$T/cleanup-done"
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'done\n'
	# the log shows the first copy ended before the second started
	assert_equal "start term end second" "$(awk '{print $1}' "$T/log" | tr '\n' ' ' | sed 's/ $//')" "order of events"
	assert_dir_empty "$SFEXEC_DIR"
}

@test "abandoned command whose group dies 0.3 s after SIGTERM: the key is free at once, not after --grace" {
	cat >"$T/cmd.sh" <<-'EOF'
	#!/bin/bash
	sleep 300 &
	trap 'sleep 0.3; exit 0' TERM
	echo ready
	wait
	EOF
	chmod +x "$T/cmd.sh"
	spawn A -v --grace 60 -k g60 -- "$T/cmd.sh"
	wait_for 10 file_has "$T/A.out" ready
	local r t0
	r=$(runner_of A)
	kill -TERM "${PIDS[A]}"
	reap A
	t0=$(now_ms)
	wait_for 10 not_alive "$r"
	(($(now_ms) - t0 < 5000)) || fail "runner stayed $(($(now_ms) - t0)) ms"
	SFRUN_TIMEOUT=10 sfrun -n -k g60 -- echo next
	assert_status 0
	assert_dir_empty "$SFEXEC_DIR"
}

@test "socket removed during a flight (a tmp cleaner): the next one waits, then runs alone" {
	spawn A -v -k rm -- "$FC" count "$T/count" out 'A\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" A
	rm -f "$(sock_of rm)"
	spawn B -v -k rm -- "$FC" count "$T/count" out 'B\n'
	sleep 0.3                        # B waits on the key: it must not run yet
	assert_count "$T/count" 1
	touch "$T/gate"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
	assert_started B
	assert_count "$T/count" 2
	assert_dir_empty "$SFEXEC_DIR"
}

@test "a runner removes only its own socket, never one planted under its name" {
	spawn A -v -k own -- "$FC" out 'A\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" A
	rm -f "$(sock_of own)"
	"$PY" -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$(sock_of own)"
	touch "$T/gate"
	reap A
	assert_rc A 0
	[[ -S $(sock_of own) ]] || fail "the runner removed a socket it did not bind"
}

# ---- time bounds (row 7, guarantee 6) ---------------------------------------------

@test "-w bounds a wait on a lock held by someone else (flock(1)); -n never waits" {
	mkdir -m 0700 "$SFEXEC_DIR"
	spawn_tool holder flock "$(lock_of held)" sleep 30
	wait_for 10 test -e "$(lock_of held)"
	sleep 0.1
	local t0=$(now_ms)
	sfrun -w 1 -k held -- echo hi
	assert_status 124
	assert_empty "$T/run.out"
	(($(now_ms) - t0 < 5000)) || fail "-w 1 took $(($(now_ms) - t0)) ms"
	sfrun -n -k held -- echo hi
	assert_status 75
}

@test "-w bounds the wait for a stopped runner's WELCOME" {
	spawn A -v -k stop -- "$FC" out 'A\n' gate "$T/gate"
	wait_attached 10 A
	local r
	r=$(runner_of A)
	kill -STOP "$r"
	sfrun -w 1 -k stop -- echo hi
	kill -CONT "$r"
	assert_status 124
	assert_file_is "$T/run.err" $'sfexec: timed out after 1 second\n'
	touch "$T/gate"
	reap A
	assert_rc A 0
}

@test "-w bounds a stdout that nobody reads" {
	mkfifo "$T/fifo"
	# a reader that opens the FIFO and never reads
	spawn_tool holder bash -c 'exec 3<"$1"; sleep 60' _ "$T/fifo"
	local t0=$(now_ms) rc=0
	timeout -s KILL 20 "$SFEXEC" -w 1 -k blk -- head -c 2000000 /dev/zero >"$T/fifo" 2>"$T/err" || rc=$?
	assert_equal 124 "$rc" "exit status"
	(($(now_ms) - t0 < 5000)) || fail "-w 1 took $(($(now_ms) - t0)) ms"
	assert_file_is "$T/err" $'sfexec: timed out after 1 second\n'
}

# ---- slow readers (row 6, guarantee 7) --------------------------------------------

@test "a reader stopped for longer than the runner lingers still gets every byte and the status" {
	spawn A -v -k slow -- bash -c 'for i in $(seq 1 276); do echo "line $i"; sleep 0.004; done; exit 3'
	wait_attached 10 A
	spawn B -v -k slow -- true
	wait_attached 10 B
	kill -STOP "${PIDS[B]}"
	reap A
	assert_rc A 3
	sleep 6                          # the scenario: stopped past LINGER (5 s)
	kill -CONT "${PIDS[B]}"
	reap B
	assert_rc B 3
	assert_same_bytes "$T/A.out" "$T/B.out"
	assert_equal 276 "$(lines_in "$T/B.out")" "lines B got"
}

# ---- namespaces (row 8, guarantee 8) ----------------------------------------------

@test "a joiner in another PID namespace joins, shows no foreign pid, and signals nothing when the owner dies" {
	[[ $EUID == 0 ]] || skip "needs root for unshare -p"
	command -v unshare >/dev/null || skip "no unshare"
	spawn A -v -k ns -- "$FC" pgid "$T/cmd.pgid" bgsleep "$T/gc.pid" out 'A\n' gate "$T/gate" 60
	wait_for 10 file_has "$T/A.out" A
	local pg
	read -r pg <"$T/cmd.pgid"
	# inside the namespace, a process group with the command's number
	spawn_tool ns unshare -p -f --mount-proc bash -c '
		echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid
		setsid sleep 300 & p=$!
		echo "$p" >"$2/nsvictim"
		"$3" -v -k ns -- true >"$2/J.out" 2>"$2/J.err"
		echo $? >"$2/J.rc"
		if kill -0 "$p" 2>/dev/null; then echo alive; else echo dead; fi >"$2/victim.state"
		kill "$p"' _ "$pg" "$T" "$SFEXEC"
	wait_for 10 test -s "$T/nsvictim"
	[[ $(cat "$T/nsvictim") == "$pg" ]] || skip "could not give a process of the namespace the number $pg"
	wait_for 20 file_has "$T/J.out" A
	assert_equal "sfexec: joined flight (started in another PID namespace)" "$(head -n1 "$T/J.err")"
	kill -KILL "$(runner_of A)"
	wait_for 10 test -s "$T/J.rc"
	assert_equal 125 "$(cat "$T/J.rc")" "joiner's status"
	assert_equal "sfexec: flight owner died" "$(sed -n 2p "$T/J.err")"
	wait_for 10 test -s "$T/victim.state"
	assert_equal alive "$(cat "$T/victim.state")" "process of the joiner's namespace with the command's number"
}

# ---- the directory stays clean (rows 10-13, guarantee 10) -------------------------

@test "after a flight nothing of the key is left; many derived keys leave nothing" {
	local i
	for i in $(seq 1 30); do
		sfrun -- echo "$i"
		assert_status 0
	done
	assert_dir_empty "$SFEXEC_DIR"
}

@test "a runtime directory path longer than a socket address works and is left clean" {
	local d=$T
	while ((${#d} < 200)); do d=$d/a-rather-long-directory-name; done
	mkdir -p "$d" && chmod 0700 "$d"
	sfrun -d "$d" -k long -- echo hi
	assert_status 0
	assert_file_is "$T/run.out" $'hi\n'
	spawn A -d "$d" -v -k long -- "$FC" out 'A\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" A
	spawn B -d "$d" -v -k long -- true
	wait_attached 10 B
	assert_joined B A
	touch "$T/gate"
	reap A; reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'A\n'
	assert_dir_empty "$d"
}

@test "a runner that fails at start (ulimit -n 8) leaves nothing behind" {
	spawn_limited "-n 8" A -k tiny -- echo hi
	reap A
	if [[ ${RC[A]} == 0 ]]; then
		assert_file_is "$T/A.out" $'hi\n'
	else
		assert_rc A 125
		[[ $(wc -l <"$T/A.err") == 1 ]] || fail "not one line: $(cat "$T/A.err")"
	fi
	assert_dir_empty "$SFEXEC_DIR"
}

@test "an abandoned flight leaves nothing behind" {
	spawn A -v -k ab -- "$FC" out 'A\n' gate "$T/never" 60
	wait_for 10 file_has "$T/A.out" A
	kill -TERM "${PIDS[A]}"
	reap A
	assert_dir_empty "$SFEXEC_DIR"
}

@test "a starter that is pid 1 of its own PID namespace takes the flight with it; joiners get 125" {
	[[ $EUID == 0 ]] || skip "needs root for unshare -p"
	command -v unshare >/dev/null || skip "no unshare"
	spawn_tool ns unshare -p -f "$SFEXEC" -k pid1 -- "$FC" pgid "$T/cmd.pgid" out 'A\n' gate "$T/never" 60
	wait_for 10 test -s "$T/cmd.pgid"
	spawn B -v -k pid1 -- true
	wait_for 10 file_has "$T/B.err" "joined flight"
	assert_equal "sfexec: joined flight (started in another PID namespace)" "$(vline B)"
	wait_for 10 file_has "$T/B.out" A
	local starter
	starter=$(pgrep -P "${PIDS[ns]}")
	[[ -n $starter ]] || fail "no starter under unshare"
	kill -KILL "$starter"
	reap B 10
	assert_rc B 125
	assert_match '^sfexec: flight owner \(pid [0-9]+\) died$' "$(sed -n 2p "$T/B.err")"
	assert_file_is "$T/B.out" $'A\n'
}
