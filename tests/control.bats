#!/usr/bin/env bats
# See and steer flights (issue 10): --list (the table, every state, every
# JSON field, odd keys), --forget (Go's Forget: a running flight runs on for
# those attached while the next invocation starts a new one; a stored result
# goes), --cancel (SIGTERM, --grace, SIGKILL; nothing stored), a stopped
# runner, an old runner's refusal, and that asking never disturbs a flight.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	CE=$TOOLS/cache-entry
}

# json FILE PYEXPR: evaluate PYEXPR with `rows` the JSON Lines of FILE
# (each line must parse on its own) and print the result as JSON.
json() {
	python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(json.dumps(eval(sys.argv[2])))' "$1" "$2"
}

# listed: --list --json into $T/run.out (status 0 asserted).
listed() {
	sfrun --list --json
	assert_status 0
	assert_empty "$T/run.err"
}

# state_of KEY: the state --list gives the flight (first row) of KEY.
state_of() {
	listed
	json "$T/run.out" "[r['state'] for r in rows if r['key'] == '$1'][:1]"
}

# state_is KEY STATE: a wait_for condition.
state_is() { [[ $(state_of "$1") == "[\"$2\"]" ]]; }

# runner_pid KEY: the runner's pid as --list gives it.
runner_pid() {
	listed
	json "$T/run.out" "[r['runner_pid'] for r in rows if r['key'] == '$1'][0]"
}

@test "--list: the table, one row per flight and per stored result" {
	# B after A has started the flight: runner_of A reads A's "started" line
	spawn A -v -k mirror-sync -- "$FC" out hello err e gate "$T/gate"
	wait_attached 10 A
	spawn B -k mirror-sync -- "$FC" out hello err e gate "$T/gate"
	wait_for 10 file_has "$T/B.out" hello
	sfrun --ttl 1h -k api-token -- "$FC" out token
	sfrun --list
	assert_status 0
	assert_empty "$T/run.err"
	assert_equal 3 "$(lines_in "$T/run.out")" "lines"
	assert_match '^KEY +STATE +PID +AGE +INVOCATIONS +STDOUT +STDERR +STATUS +COMMAND$' \
		"$(sed -n 1p "$T/run.out")" "the header"
	assert_match "^mirror-sync +running +$(runner_of A) +[0-9]+s +2 +5 +1 +- +$FC out hello err e gate $T/gate\$" \
		"$(sed -n 2p "$T/run.out")" "the flight's row"
	assert_match "^api-token +cached +- +[0-9]+s +- +5 +0 +0 +$FC out token\$" \
		"$(sed -n 3p "$T/run.out")" "the stored result's row"
	touch "$T/gate"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
}

@test "--list --json: every field of a running flight, a stopped one and a stored result" {
	local t0 now
	t0=$(date +%s)
	spawn A -v -k j -- "$FC" out abc err de gate "$T/gate" exit 3
	wait_attached 10 A
	wait_for 10 file_has "$T/A.out" abc
	sfrun --ttl 1h -k stored -- "$FC" out 12345
	listed
	now=$(date +%s)
	assert_equal 2 "$(lines_in "$T/run.out")" "rows"
	assert_equal '["id", "key", "derived", "state", "runner_pid", "started", "ended", "age_seconds", "invocations", "stdout_bytes", "stderr_bytes", "exit_status", "argv", "argv_cut", "keep_until", "host"]' \
		"$(json "$T/run.out" 'list(rows[0].keys())')" "the fields, in order"
	assert_equal "[\"$(keyhash j)\", \"j\", false, \"running\", $(runner_of A), null, null, 1, 3, 2, null, false]" \
		"$(json "$T/run.out" '[rows[0][f] for f in ("id", "key", "derived", "state", "runner_pid", "ended", "keep_until", "invocations", "stdout_bytes", "stderr_bytes", "exit_status", "argv_cut")]')" \
		"the running flight"
	assert_equal "[\"$FC\", \"out\", \"abc\", \"err\", \"de\", \"gate\", \"$T/gate\", \"exit\", \"3\"]" \
		"$(json "$T/run.out" 'rows[0]["argv"]')" "its argv"
	# started: RFC 3339 UTC, within the test's span; age agrees
	json "$T/run.out" 'rows[0]["started"]' | grep -Eq '^"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"$' ||
		fail "started: $(json "$T/run.out" 'rows[0]["started"]')"
	local started
	started=$(date -u -d "$(json "$T/run.out" 'rows[0]["started"]' | tr -d '"')" +%s)
	((started >= t0 - 1 && started <= now)) || fail "started $started not in [$t0, $now]"
	(($(json "$T/run.out" 'rows[0]["age_seconds"]') <= now - t0 + 1)) || fail "age"

	assert_equal "[\"$(keyhash stored)\", \"stored\", false, \"cached\", null, null, 5, 0, 0, false]" \
		"$(json "$T/run.out" '[rows[1][f] for f in ("id", "key", "derived", "state", "runner_pid", "invocations", "stdout_bytes", "stderr_bytes", "exit_status", "argv_cut")]')" \
		"the stored result"
	local ended keep
	ended=$(date -u -d "$(json "$T/run.out" 'rows[1]["ended"]' | tr -d '"')" +%s)
	keep=$(date -u -d "$(json "$T/run.out" 'rows[1]["keep_until"]' | tr -d '"')" +%s)
	((ended >= t0 - 1 && ended <= now)) || fail "ended $ended"
	((keep - ended >= 3599 && keep - ended <= 3601)) || fail "keep_until - ended = $((keep - ended))"
	json "$T/run.out" 'rows[1]["started"]' | grep -Eq '^"[0-9-]+T[0-9:]+Z"$' || fail "a stored result's start"

	touch "$T/gate"
	reap A
	assert_rc A 3
}

@test "--list: a flight that has ended but is still serving a reader is 'stopping', with its end and status" {
	# linger: a client that reads EXIT and never hangs up keeps the runner
	spawn A -v -k st -- "$FC" out 'x\n' gate "$T/gate" exit 7
	wait_attached 10 A
	spawn_tool L "$TOOLS/hostile" "$(sock_of st)" linger st
	wait_for 10 file_has "$T/L.out" welcomed
	touch "$T/gate"
	reap A
	assert_rc A 7
	wait_for 10 file_has "$T/L.out" exit
	listed
	assert_equal '["stopping", 7, 1, 2]' \
		"$(json "$T/run.out" '[rows[0][f] for f in ("state", "exit_status", "invocations", "stdout_bytes")]')" \
		"the stopping flight"
	json "$T/run.out" 'rows[0]["ended"]' | grep -Eq '^"[0-9-]+T[0-9:]+Z"$' || fail "ended"
	# it took no joiners: its socket is renamed, and the key is free
	[[ ! -e $(sock_of st) ]] || fail "the socket still takes joiners"
	sfrun -k st -- "$FC" out 'new\n'
	assert_status 0
	assert_equal new "$output"
}

@test "--list: a background refresh is 'refreshing' with no invocations" {
	sfrun --ttl 10 --stale-while-revalidate 1h -k r -- "$FC" out 'old\n'
	"$CE" "$SFEXEC_DIR/$(keyhash r).cache" age 15
	sfrun --ttl 10 --stale-while-revalidate 1h -k r -- "$FC" trapterm "$T/term" gate "$T/gate" out 'new\n'
	assert_equal old "$output"
	wait_for 10 state_is r refreshing
	listed
	assert_equal '[["refreshing", 0], ["cached", null]]' \
		"$(json "$T/run.out" '[[r["state"], r["invocations"]] for r in rows]')" "the rows"
	# forgotten, a refresh nobody is attached to is abandoned at once,
	# and stores nothing
	sfrun --forget -k r
	assert_status 0
	wait_for 10 file_has "$T/term" TERM
	wait_for 10 state_is r stopping
	touch "$T/gate"
	listed
	assert_equal '[]' "$(json "$T/run.out" '[r for r in rows if r["state"] == "cached"]')" \
		"stored results"
}

@test "--list: key escaping in the table and in JSON, recoverable bytes; a derived key" {
	local k
	k=$'new\nline\xffbs\\ tab\t\xc3\xa9'
	spawn A -v -k "$k" -- "$FC" gate "$T/gate"
	wait_attached 10 A
	spawn -C "$T" B -v -- "$FC" gate "$T/gate" 'arg with space' $'\xfe'
	wait_attached 10 B
	sfrun --list
	assert_status 0
	grep -qF 'new\nline\xffbs\\ tab\t' "$T/run.out" || fail "table key" "$(cat "$T/run.out")"
	grep -Eq '^\(derived\) +running .* gate '"$T/gate"' arg with space \\xfe$' "$T/run.out" ||
		fail "derived row" "$(cat "$T/run.out")"
	listed
	# The JSON is valid; undoing \\ and \xNN gives the bytes back.
	python3 - "$T/run.out" "$k" <<-'EOF' || fail "JSON key"
		import json, re, sys
		rows = [json.loads(l) for l in open(sys.argv[1])]
		want = sys.argv[2].encode('utf-8', 'surrogateescape')
		def back(s):
		    out = b''
		    for m in re.finditer(r'\\\\|\\x([0-9a-f]{2})|[^\\]+', s):
		        t = m.group(0)
		        out += b'\\' if t == '\\\\' else bytes([int(m.group(1), 16)]) if m.group(1) else t.encode()
		    return out
		keyed = [r for r in rows if r['key'] is not None]
		assert back(keyed[0]['key']) == want, (keyed[0]['key'], want)
		assert 'é' in keyed[0]['key']
		derived = [r for r in rows if r['derived']]
		assert derived[0]['key'] is None
		assert back(derived[0]['argv'][-1]) == b'\xfe', derived[0]['argv']
		assert derived[0]['argv'][-2] == 'arg with space'
	EOF
	touch "$T/gate"
	reap A
	reap B
}

@test "--list: a stopped runner costs about a second and is shown 'unresponsive'; the others are listed" {
	local pid t0 t1
	spawn A -v -k stopped -- "$FC" gate "$T/gate"
	spawn B -v -k fine -- "$FC" gate "$T/gate"
	wait_attached 10 A B
	pid=$(runner_of A)
	kill -STOP "$pid"
	t0=$(now_ms)
	sfrun --list --json
	t1=$(now_ms)
	kill -CONT "$pid"
	assert_status 0
	((t1 - t0 < 5000)) || fail "--list took $((t1 - t0)) ms"
	assert_equal "[[\"$(keyhash fine)\", \"running\", \"fine\"], [\"$(keyhash stopped)\", \"unresponsive\", null]]" \
		"$(json "$T/run.out" 'sorted([[r["id"], r["state"], r["key"]] for r in rows], key=lambda x: x[1])')" \
		"the rows"
	sfrun --list
	assert_status 0
	touch "$T/gate"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
}

@test "--list: a runner of an older protocol is 'incompatible', and refused our question cleanly" {
	listed          # makes the runtime directory
	spawn_tool O "$TOOLS/old-runner" "$(sock_of old)" 3 "$T/old.log"
	wait_for 10 file_has "$T/old.log" listening
	listed
	assert_equal "[[\"$(keyhash old)\", \"incompatible\"]]" \
		"$(json "$T/run.out" '[[r["id"], r["state"]] for r in rows]')" "the row"
	assert_equal 'refused 5 0x4' "$(sed -n 2p "$T/old.log")" "what the old runner saw"
	sfrun --forget -k old
	assert_status 125
	assert_err_line "$T/run.err" "sfexec: cannot forget: $SFEXEC_DIR/$(keyhash old).sock: the runner speaks another version of the protocol (another sfexec)"
	sfrun --cancel -k old
	assert_status 125
	assert_match 'another version of the protocol' "$stderr"
}

@test "a control HELLO of the previous version gets REFUSE (version) from this runner; the flight carries on" {
	spawn A -v -k v3 -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	run "$TOOLS/hostile" "$(sock_of v3)" oldhello v3 4 0x4
	assert_equal "refused 1" "${lines[0]}" "what a version 4 control client got"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
}

@test "control clients: never attached (the last invocation leaving abandons the flight), bad requests dropped" {
	spawn A -v -k c -- "$FC" pgid "$T/c.pgid" trapterm "$T/term" gate "$T/gate"
	wait_attached 10 A
	for req in twice garbage attach; do
		run "$TOOLS/hostile" "$(sock_of c)" control c "$req"
		assert_equal nothing "${lines[0]}" "answer to $req"
	done
	spawn_tool Q "$TOOLS/hostile" "$(sock_of c)" control c none
	wait_for 10 queue_is "$(sock_of c)" 0
	# the only invocation leaves: the command gets SIGTERM though a control
	# client is connected
	kill -TERM "${PIDS[A]}"
	wait_for 10 file_has "$T/term" TERM
	reap A
	assert_rc A 143
}

@test "--forget during a flight: the old flight finishes for its invocations while a new one runs" {
	spawn A -v -k f -- "$FC" count "$T/count" out 'one\n' gate "$T/gate1" out 'two\n' exit 4
	spawn B -v -k f -- "$FC" count "$T/count" out 'one\n' gate "$T/gate1" out 'two\n' exit 4
	wait_attached 10 A B
	sfrun --forget -k f
	assert_status 0
	assert_empty "$T/run.out"
	assert_empty "$T/run.err"
	wait_for 10 state_is f forgotten
	# the next invocation starts a new flight at once, beside the old one
	spawn C -v -k f -- "$FC" count "$T/count" out 'new\n' gate "$T/gate2"
	wait_attached 10 C
	assert_started C
	assert_count "$T/count" 2
	listed
	assert_equal '[["forgotten", 2], ["running", 1]]' \
		"$(json "$T/run.out" '[[r["state"], r["invocations"]] for r in rows]')" "both flights"
	touch "$T/gate1"
	reap A
	reap B
	assert_rc A 4
	assert_rc B 4
	assert_err_after_vline A ''
	assert_file_is "$T/A.out" $'one\ntwo\n'
	assert_file_is "$T/B.out" $'one\ntwo\n'
	touch "$T/gate2"
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'new\n'
	# nothing is left running: forgetting again finds nothing
	sfrun --forget -k f
	assert_status 1
	assert_empty "$T/run.err"
}

@test "--forget: a forgotten flight stores nothing; a stored result is removed; 1 when there is nothing" {
	sfrun --ttl 1h -k s -- "$FC" count "$T/count" out 'first\n'
	assert_runs_is 1
	sfrun -v --forget -k s
	assert_status 0
	assert_err_line "$T/run.err" "sfexec: forgotten"
	[[ ! -e $SFEXEC_DIR/$(keyhash s).cache ]] || fail "the entry is still there"
	ls "$SFEXEC_DIR" | grep -q "^$(keyhash s)\." && fail "its data are still there: $(ls "$SFEXEC_DIR")"
	sfrun --ttl 1h -k s -- "$FC" count "$T/count" out 'second\n'
	assert_equal second "$output"
	assert_runs_is 2
	# a flight forgotten while it runs stores nothing
	spawn A -v --ttl 1h -k s2 -- "$FC" count "$T/count" gate "$T/gate" out 'stale\n'
	wait_attached 10 A
	sfrun --forget -k s2
	assert_status 0
	touch "$T/gate"
	reap A
	assert_rc A 0
	[[ ! -e $SFEXEC_DIR/$(keyhash s2).cache ]] || fail "a forgotten flight stored its result"
	sfrun -v --forget -k nothing-here
	assert_status 1
	assert_err_line "$T/run.err" "sfexec: nothing to forget"
}

assert_runs_is() { assert_count "$T/count" "$1"; }

@test "--forget and --cancel with a command name the key a run of it would (cwd, --key-env)" {
	local cmd=("$FC" trapterm "$T/term" gate "$T/gate" out a)
	mkdir "$T/w"
	spawn -C "$T/w" -e K=1 A -v --key-env K -- "${cmd[@]}"
	wait_attached 10 A
	# another directory or another value is another key
	K=1 sfrun --forget --key-env K -- "${cmd[@]}"
	assert_status 1
	cd "$T/w"
	K=2 sfrun --forget --key-env K -- "${cmd[@]}"
	assert_status 1
	sfrun --forget -- "${cmd[@]}"
	assert_status 1
	K=1 sfrun --forget --key-env K -- "${cmd[@]}"
	assert_status 0
	K=1 sfrun --cancel --grace 0 --key-env K -- "${cmd[@]}"
	assert_status 0
	reap A
	assert_rc A 137
}

@test "--cancel: a TERM-ignoring command gets SIGKILL after --grace; every invocation gets 137; nothing stored" {
	local t0 t1
	# B after A: A's command (the one with trapterm) is the flight's
	spawn A -v --ttl 1h --cache-failures -k x -- "$FC" pgid "$T/x.pgid" trapterm "$T/term" out 'one\n' gate "$T/never"
	wait_attached 10 A
	spawn B -v -k x -- "$FC" pgid "$T/x.pgid" out 'one\n' gate "$T/never"
	wait_attached 10 A B
	wait_for 10 file_has "$T/B.out" one
	t0=$(now_ms)
	sfrun --cancel --grace 1 -k x
	assert_status 0
	assert_empty "$T/run.err"
	wait_for 10 file_has "$T/term" TERM
	# the dying flight takes no joiners, and the key stays held: a
	# newcomer waits, then runs afresh
	spawn C -v -k x -- "$FC" out 'fresh\n'
	reap A
	reap B
	t1=$(now_ms)
	assert_rc A 137
	assert_rc B 137
	((t1 - t0 >= 900)) || fail "killed after $((t1 - t0)) ms, before the grace"
	assert_file_is "$T/A.out" $'one\n'
	assert_file_is "$T/B.out" $'one\n'
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'fresh\n'
	assert_started C
	[[ ! -e $SFEXEC_DIR/$(keyhash x).cache ]] || fail "a cancelled flight stored its result"
	wait_for 10 pg_gone "$(cat "$T/x.pgid")"
}

@test "--cancel: a command that obeys SIGTERM ends at once, its invocations get 143; 1 when nothing runs" {
	spawn A -v -k y -- "$FC" pgid "$T/y.pgid" out 'one\n' gate "$T/never"
	wait_attached 10 A
	sfrun -v --cancel -k y
	assert_status 0
	assert_err_line "$T/run.err" "sfexec: cancelled"
	reap A
	assert_rc A 143
	assert_file_is "$T/A.out" $'one\n'
	sfrun -v --cancel -k y
	assert_status 1
	assert_err_line "$T/run.err" "sfexec: nothing to cancel"
	# a forgotten flight can still be cancelled
	spawn B -v -k z -- "$FC" gate "$T/never"
	wait_attached 10 B
	sfrun --forget -k z
	assert_status 0
	sfrun --cancel -k z
	assert_status 0
	reap B
	assert_rc B 143
}

@test "the renamed socket goes when the runner exits; a dead runner's is removed by --list" {
	spawn A -v -k g -- "$FC" gate "$T/gate"
	wait_attached 10 A
	sfrun --forget -k g
	ls "$SFEXEC_DIR" | grep -Eq "^$(keyhash g)\.[0-9]+\.ctl$" || fail "no renamed socket: $(ls "$SFEXEC_DIR")"
	touch "$T/gate"
	reap A
	wait_for 10 not_alive "$(runner_of A)"
	[[ -z $(ls "$SFEXEC_DIR") ]] || fail "left behind: $(ls "$SFEXEC_DIR")"
	# a runner killed outright leaves its renamed socket: --list removes it
	spawn B -v -k g2 -- "$FC" gate "$T/gate2"
	wait_attached 10 B
	sfrun --forget -k g2
	kill -KILL "$(runner_of B)"
	reap B
	sfrun --list
	assert_status 0
	assert_equal 1 "$(lines_in "$T/run.out")" "rows"
	ls "$SFEXEC_DIR" | grep -q '\.ctl$' && fail "the dead runner's socket is still there"
	true
}

@test "control mode usage errors" {
	usage_error "sfexec: --json needs --list$USAGE_TAIL" --json -k k true
	usage_error "sfexec: --list takes no command$USAGE_TAIL" --list true
	usage_error "sfexec: --key cannot be used with --list$USAGE_TAIL" --list -k k
	usage_error "sfexec: --ttl cannot be used with --list$USAGE_TAIL" --list --ttl 1
	usage_error "sfexec: --forget needs -k KEY or a command$USAGE_TAIL" --forget
	usage_error "sfexec: --cancel needs -k KEY or a command$USAGE_TAIL" --cancel
	usage_error "sfexec: --no-wait cannot be used with --forget$USAGE_TAIL" --forget -n -k k
	usage_error "sfexec: --grace cannot be used with --forget$USAGE_TAIL" --forget --grace 1 -k k
	usage_error "sfexec: --cache-dir cannot be used with --cancel$USAGE_TAIL" --cancel --cache-dir /tmp -k k
	usage_error "sfexec: --cancel cannot be used with --forget$USAGE_TAIL" --forget --cancel -k k
	usage_error "sfexec: invalid grace period 'x'$USAGE_TAIL" --cancel --grace x -k k
	sfrun --list
	assert_status 0
	assert_match '^KEY +STATE' "$output"
}

@test "another user's socket in the directory is neither listed nor steered" {
	((EUID == 0)) || skip "needs root"
	fake_runner fake
	listed
	assert_equal '[]' "$(json "$T/run.out" 'rows')" "rows"
	sfrun --forget -k fake
	assert_status 125
	assert_match '^sfexec: cannot forget: .*: socket owned by uid 65534$' "$stderr"
	sfrun --cancel -k fake
	assert_status 125
	assert_match '^sfexec: cannot cancel: .*: socket owned by uid 65534$' "$stderr"
	# it was connected to (to learn its uid), and never sent a byte
	grep -v -e '^listening$' -e '^conn 0$' "$T/fake.log" &&
		fail "the fake runner was sent bytes: $(cat "$T/fake.log")"
	true
}

@test "a control request from another uid gets nothing; the flight is unharmed" {
	((EUID == 0)) || skip "needs root"
	# a runtime dir whose path uid 65534 can traverse (bats' tmp dir is 0700)
	PEERDIR=$(mktemp -d /tmp/sfexec-bats-ctl.XXXXXX)
	export SFEXEC_DIR=$PEERDIR/rt
	local sock mode
	sock=$SFEXEC_DIR/$(keyhash peer).sock
	spawn A -v -k peer -- "$FC" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	mode=$(file_mode "$sock")
	chmod 0711 "$PEERDIR" "$SFEXEC_DIR"
	chmod 0777 "$sock"
	# positive control: our own uid gets its answers
	run "$TOOLS/hostile" "$sock" control peer query
	assert_equal status "${lines[0]}" "what our uid got"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOLS/hostile" "$sock" control peer query
	assert_equal nothing "${lines[0]}" "what uid 65534 got for QUERY"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$TOOLS/hostile" "$sock" control peer forget
	assert_equal nothing "${lines[0]}" "what uid 65534 got for FORGET"
	chmod 0700 "$PEERDIR" "$SFEXEC_DIR"
	chmod "$mode" "$sock"
	wait_for 10 state_is peer running
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
	rm -rf "$PEERDIR"
}

@test "--list from another PID namespace: the runner's pid is null there, and its own pid when listed from its own" {
	[[ $EUID == 0 ]] || skip "needs root for unshare -p"
	command -v unshare >/dev/null || skip "no unshare"
	spawn A -v -k ns -- "$FC" gate "$T/gate"
	wait_attached 10 A
	run unshare -p -f --mount-proc "$SFEXEC" --list --json
	assert_status 0
	printf '%s\n' "$output" >"$T/ns.json"
	assert_equal '[["ns", "running", null]]' \
		"$(json "$T/ns.json" '[[r["key"], r["state"], r["runner_pid"]] for r in rows]')" \
		"listed from a child PID namespace"
	assert_equal "$(runner_of A)" "$(runner_pid ns)" "listed from ours"
	touch "$T/gate"
	reap A
	assert_rc A 0
}
