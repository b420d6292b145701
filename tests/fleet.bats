#!/usr/bin/env bats
# Fleet mode (issue 11, --redis): one execution across hosts, the output
# streamed from the leader's host to every other host's invocations, the
# lease and its fencing, and what happens when a host, a runner or Redis
# fails.  Every test runs its own redis-server on a Unix socket in $T;
# hosts are runtime directories in PID, mount and UTS namespaces of their
# own (fleet_helpers.bash), so no host sees another's processes.

bats_require_minimum_version 1.5.0
load helpers
load fleet_helpers

setup() {
	common_setup
	if "$SFEXEC" --redis unix:///nonexistent -k k -- true 2>&1 |
		grep -q 'built without Redis support'; then
		skip "this sfexec was built without fleet mode (make REDIS=no)"
	fi
	command -v redis-server >/dev/null || skip "redis-server is not installed"
	redis_up
}

teardown() {
	fleet_teardown
	common_teardown
}

# leased KEY: the lease's value in Redis ("" when none).
lease_of() { rcli get "sfexec:{$(keyhash "$1")}:lease"; }
leased() { [[ -n $(lease_of "$1") ]]; }
unleased() { [[ -z $(lease_of "$1") ]]; }

# elapsed_ms SINCE_MS
elapsed_ms() { echo $(($(now_ms) - $1)); }

# fresh_on HOST: HOST's own cache holds swr's refreshed result (v2): a
# replay there, with Redis out of the way (--ttl, no --redis).
fresh_on() {
	[[ $(SFEXEC_DIR=$T/$1/rt "$SFEXEC" --ttl 60 -k swr -- false 2>/dev/null) == v2 ]]
}

@test "one execution across three hosts, everyone gets the output and status" {
	host_up hostA
	host_up hostB
	host_up hostC
	local h i lines
	on hostA A1 -v --redis "$RURL" -k deploy -- "$FC" count "$T/count" out 'out\n' \
		err 'err\n' gate "$T/go" out 'done\n' exit 3
	wait_for 10 file_has "$T/A1.out" out
	for h in hostA hostB hostC; do
		for i in 2 3; do
			on "$h" "$h-$i" --redis "$RURL" -k deploy -- "$FC" count "$T/count" out 'other\n'
		done
	done
	wait_for 10 file_has "$T/hostC-3.out" out
	wait_for 10 file_has "$T/hostB-2.out" out
	# -v on a follower host: which host runs the command
	on hostB V -v --redis "$RURL" -k deploy -- "$FC" out 'other\n'
	wait_for 10 file_has "$T/V.out" out
	touch "$T/go"
	reap A1
	assert_rc A1 3
	reap V
	assert_rc V 3
	mapfile -t lines <"$T/V.err"
	assert_equal 3 "${#lines[@]}" "lines of V.err"
	assert_match '^sfexec: joined flight \(started by pid [0-9]+\)$' "${lines[0]}"
	assert_match '^sfexec: following the flight of hostA through Redis \(its runner, pid [0-9]+ there, runs the command\)$' "${lines[1]}"
	assert_equal err "${lines[2]}"
	for h in hostA hostB hostC; do
		for i in 2 3; do
			reap "$h-$i"
			assert_rc "$h-$i" 3
			assert_file_is "$T/$h-$i.out" $'out\ndone\n'
			assert_file_is "$T/$h-$i.err" $'err\n'
		done
	done
	assert_count "$T/count" 1
}

@test "a line reaches another host's invocation before the command exits" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" -k live -- "$FC" out 'first line\n' gate "$T/go" out 'second\n'
	wait_for 10 file_has "$T/A.out" 'first line'
	on hostB B --redis "$RURL" -k live -- "$FC" out 'never\n'
	wait_for 10 file_has "$T/B.out" 'first line'
	alive "${PIDS[A]}" || fail "the command ended before the line crossed"
	touch "$T/go"
	reap A
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'first line\nsecond\n'
}

@test "a host that joins late replays the output from byte 0, stdout and stderr in order for 2>&1" {
	host_up hostA
	host_up hostB
	# 3 MiB in alternating runs of stdout and stderr, then a gate
	cat >"$T/cmd" <<-'EOF'
	#!/bin/bash
	for i in $(seq 1 24); do
		head -c 65536 /dev/zero | tr '\0' o
		head -c 65536 /dev/zero | tr '\0' e >&2
	done
	printf 'gate\n'
	while [[ ! -e $1 ]]; do sleep 0.02; done
	printf 'tail\n' >&2
	EOF
	chmod +x "$T/cmd"
	nsenter -t "${HOSTPID[hostA]}" -p -u -m -- env SFEXEC_DIR="$T/hostA/rt" \
		"$SFEXEC" --redis "$RURL" -k late -- "$T/cmd" "$T/go" >"$T/A.out" 2>&1 &
	PIDS[A]=$!
	wait_for 20 file_has "$T/A.out" gate
	nsenter -t "${HOSTPID[hostB]}" -p -u -m -- env SFEXEC_DIR="$T/hostB/rt" \
		"$SFEXEC" --redis "$RURL" -k late -- "$T/cmd" "$T/go" >"$T/B.out" 2>&1 &
	PIDS[B]=$!
	wait_for 20 file_has "$T/B.out" gate
	touch "$T/go"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
	assert_same_bytes "$T/A.out" "$T/B.out"
	assert_equal 3145738 "$(stat -c %s "$T/B.out")" "size"
}

@test "SFEXEC_FENCING_TOKEN grows with every new leader" {
	sfrun --redis "$RURL" -k fenced -- "$FC" env SFEXEC_FENCING_TOKEN
	assert_status 0
	assert_equal "SFEXEC_FENCING_TOKEN=1" "$output"
	sfrun --redis "$RURL" -k fenced -- "$FC" env SFEXEC_FENCING_TOKEN
	assert_equal "SFEXEC_FENCING_TOKEN=2" "$output"
	# nothing of the flight is left in Redis but the fence and the
	# finished stream (kept a while for late readers)
	unleased fenced
	assert_equal 2 "$(rcli get "sfexec:{$(keyhash fenced)}:fence")"
}

@test "the leader's host dies: followers end with 125 and an exact prefix within lease + 1 s; the next invocation starts afresh" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 2 -k doomed -- "$FC" count "$T/count" out 'partial\n' gate "$T/never"
	wait_for 10 file_has "$T/A.out" partial
	on hostB B --redis "$RURL" --lease 2 -k doomed -- "$FC" count "$T/count" out 'x\n'
	wait_for 10 file_has "$T/B.out" partial
	local t0
	t0=$(now_ms)
	host_kill hostA
	reap B 10
	assert_rc B 125
	(($(elapsed_ms "$t0") <= 3000)) || fail "B took $(elapsed_ms "$t0") ms (lease 2 s)"
	assert_file_is "$T/B.out" $'partial\n'
	assert_err_line "$T/B.err" "sfexec: flight owner on hostA lost (its lease on Redis ran out, was given up or was taken)"
	# a new flight, on another host
	on hostB C --redis "$RURL" --lease 2 -k doomed -- "$FC" count "$T/count" out 'fresh\n'
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'fresh\n'
	assert_count "$T/count" 2
}

@test "Redis killed mid-flight: the leader's invocations get everything; followers end with 125; Redis back, the next flight works" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 2 -k redisdies -- "$FC" out 'before\n' gate "$T/go" out 'after\n' exit 7
	wait_for 10 file_has "$T/A.out" before
	on hostB B --redis "$RURL" --lease 2 -k redisdies -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" before
	local t0
	t0=$(now_ms)
	redis_down
	reap B 10
	assert_rc B 125
	(($(elapsed_ms "$t0") <= 3000)) || fail "B took $(elapsed_ms "$t0") ms"
	assert_file_is "$T/B.out" $'before\n'
	assert_match "^sfexec: lost Redis at $RURL: " "$(cat "$T/B.err")"
	touch "$T/go"
	reap A
	assert_rc A 7
	assert_file_is "$T/A.out" $'before\nafter\n'
	assert_empty "$T/A.err"
	redis_up
	on hostB C --redis "$RURL" -k redisdies -- "$FC" out 'again\n'
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'again\n'
}

@test "Redis unreachable: 125 naming the URL; --redis-optional runs on this host only with one line" {
	redis_down
	sfrun --redis "$RURL" -k nored -- "$FC" touch "$T/ran"
	assert_status 125
	[[ ! -e $T/ran ]] || fail "the command ran"
	assert_match "^sfexec: Redis at $RURL: " "$stderr"
	assert_equal 1 "$(lines_in "$T/run.err")" "stderr lines"
	sfrun --redis "$RURL" --redis-optional -k nored -- "$FC" out 'local\n' exit 4
	assert_status 4
	assert_equal local "$output"
	assert_match "^sfexec: Redis at $RURL: .*; running on this host only \(--redis-optional\)$" "$stderr"
	sfrun -q --redis "$RURL" --redis-optional -k nored -- "$FC" out 'local\n'
	assert_status 0
	assert_empty "$T/run.err"
}

@test "a leader frozen past its lease cannot add a byte when it resumes: its command is stopped, its invocations get 125" {
	host_up hostA
	host_up hostB
	# a line every 20 ms until told to stop
	on hostA A --redis "$RURL" --lease 1 --grace 0.2 -k frozen -- bash -c \
		'trap "echo TERM >>'"$T"'/term; exit 143" TERM
		 while :; do echo tick; sleep 0.02; done'
	wait_for 10 file_has "$T/A.out" tick
	on hostB B --redis "$RURL" --lease 1 -k frozen -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" tick
	local runner len
	runner=$(runner_on hostA frozen)
	[[ -n $runner ]] || fail "no runner found on hostA"
	kill -STOP "$runner"
	reap B 5
	assert_rc B 125
	assert_err_line "$T/B.err" "sfexec: flight owner on hostA lost (its lease on Redis ran out, was given up or was taken)"
	# a new leader, on hostB, while the old one is frozen
	on hostB C --redis "$RURL" --lease 1 -k frozen -- "$FC" env SFEXEC_FENCING_TOKEN
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'SFEXEC_FENCING_TOKEN=2\n'
	len=$(rcli xlen "$(stream_of frozen)")
	kill -CONT "$runner"
	reap A 10
	assert_rc A 125
	assert_match "^sfexec: lost this flight's lease on Redis \(.*\): the command was stopped$" \
		"$(tail -n1 "$T/A.err")"
	file_has "$T/term" TERM || fail "the command was not sent SIGTERM"
	# no entry of output: at most the one that closes the stream, when the
	# resumed leader tried to write before it saw its lease was gone
	case $(($(rcli xlen "$(stream_of frozen)") - len)) in
	0) ;;
	1) assert_closed "$(stream_of frozen)" ;;
	*) fail "the old stream grew by $(($(rcli xlen "$(stream_of frozen)") - len)) entries" ;;
	esac
	# what B wrote is an exact prefix of what A wrote
	assert_prefix_of "$T/A.out" "$T/B.out"
}

@test "a leader whose lease another host took cannot add a byte: its next chunk closes its stream; it and its followers end with 125" {
	host_up hostA
	host_up hostB
	# a line every 20 ms; a lease so long that only the chunks can notice
	on hostA A --redis "$RURL" --lease 60 --grace 0.2 -k taken -- bash -c \
		'trap "exit 143" TERM; while :; do echo tick; sleep 0.02; done'
	wait_for 10 file_has "$T/A.out" tick
	on hostB B --redis "$RURL" --lease 60 -k taken -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" tick
	rcli set "sfexec:{$(keyhash taken)}:lease" "2:token:1:elsewhere" px 60000 >/dev/null
	reap A 5
	reap B 5
	assert_rc A 125
	# (bash may say "Terminated" of its sleep first)
	assert_equal "sfexec: lost this flight's lease on Redis (another host holds it now): the command was stopped" \
		"$(tail -n1 "$T/A.err")"
	assert_rc B 125
	assert_err_line "$T/B.err" "sfexec: flight owner on hostA lost (its lease on Redis ran out, was given up or was taken)"
	assert_closed "$(stream_of taken)"
	# closed for good: Redis refuses any entry after it
	run rcli xadd "$(stream_of taken)" '*' o late
	assert_match "exhausted the last possible ID" "$output"
	assert_prefix_of "$T/A.out" "$T/B.out"
	! grep -qv '^tick$' "$T/B.out" || fail "B got something else: $(sort -u "$T/B.out")"
	# a lease overwritten with a key of another type: not ours either
	on hostA A2 --redis "$RURL" --lease 60 --grace 0.2 -k taken2 -- bash -c \
		'trap "exit 143" TERM; while :; do echo tick; sleep 0.02; done'
	wait_for 10 file_has "$T/A2.out" tick
	rcli del "sfexec:{$(keyhash taken2)}:lease" >/dev/null
	rcli hset "sfexec:{$(keyhash taken2)}:lease" a b >/dev/null
	reap A2 5
	assert_rc A2 125
	assert_closed "$(stream_of taken2)"
}

@test "the man page's ACL line is enough: a user confined to the prefix leads, follows, stores, lists, cancels and forgets" {
	local port acl u
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	redis_down
	redis_up --port "$port" --bind 127.0.0.1
	acl=$(sed -n '/^ACL SETUSER sfexec /,/^\.Ed$/p' "$BATS_TEST_DIRNAME/../man/sfexec.1" | sed '$d')
	[[ $acl == *'>PASSWORD'* ]] || fail "no ACL line in sfexec.1"
	# shellcheck disable=SC2086 # one word per rule
	assert_equal OK "$(rcli ${acl/>PASSWORD/>pw1})"
	u=redis://sfexec@127.0.0.1:$port
	export SFEXEC_REDIS_PASSWORD=pw1
	host_up hostA
	host_up hostB
	on hostA A --redis "$u" --ttl 60 -k acl -- "$FC" count "$T/count" out 'one\n' gate "$T/go" out 'two\n'
	wait_for 10 file_has "$T/A.out" one
	on hostB B --redis "$u" --ttl 60 -k acl -- "$FC" count "$T/count" out 'x\n'
	wait_for 10 file_has "$T/B.out" one
	SFEXEC_DIR=$T/hostB/rt sfrun --list --redis "$u"
	assert_status 0
	grep -qE '^acl +running +[0-9]+ +hostA ' "$T/run.out" || fail "no fleet row: $(cat "$T/run.out")"
	touch "$T/go"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
	assert_file_is "$T/B.out" $'one\ntwo\n'
	# the stored result, replayed on a third host
	host_up hostC
	on hostC C --redis "$u" --ttl 60 -k acl -- "$FC" count "$T/count" out 'x\n'
	reap C
	assert_file_is "$T/C.out" $'one\ntwo\n'
	assert_count "$T/count" 1
	SFEXEC_DIR=$T/hostC/rt sfrun --forget --redis "$u" -k acl
	assert_status 0
	on hostB D --redis "$u" --lease 1.5 -k acl2 -- "$FC" out 'd\n' gate "$T/never"
	wait_for 10 file_has "$T/D.out" d
	SFEXEC_DIR=$T/hostA/rt sfrun --cancel --redis "$u" --grace 0.5 -k acl2
	assert_status 0
	reap D 10
	assert_rc D 143
	# and nothing outside the prefix
	run rcli --user sfexec --pass pw1 --no-auth-warning set other 1
	assert_match "NOPERM" "$output"
}

@test "-n across hosts: a flight that another host runs or stops is not joined: 75 and a line naming the host, nothing with -q" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" -k busy -- "$FC" out 'a\n' gate "$T/go"
	wait_for 10 file_has "$T/A.out" a
	on hostB N -n --redis "$RURL" -k busy -- "$FC" touch "$T/ran"
	reap N
	assert_rc N 75
	assert_match '^sfexec: a flight for this key is already running on hostA \(its runner, pid [0-9]+ there\)$' \
		"$(cat "$T/N.err")"
	assert_empty "$T/N.out"
	on hostB Q -n -q --redis "$RURL" -k busy -- "$FC" touch "$T/ran"
	reap Q
	assert_rc Q 75
	assert_empty "$T/Q.err"
	[[ ! -e $T/ran ]] || fail "the command ran"
	assert_equal 0 "$(rcli zcard "sfexec:{$(keyhash busy)}:1:presence")" "followers present"
	# without -n, hostB follows as ever
	on hostB B --redis "$RURL" -k busy -- "$FC" out 'b\n'
	wait_for 10 file_has "$T/B.out" a
	touch "$T/go"
	reap A
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'a\n'
	# no flight anywhere: -n starts one
	on hostB N2 -n --redis "$RURL" -k busy -- "$FC" out 'fresh\n'
	reap N2
	assert_rc N2 0
	assert_file_is "$T/N2.out" $'fresh\n'
	# a flight that another host is stopping (its lease marked "!")
	rcli set "sfexec:{$(keyhash busy)}:lease" '!9:token:5:hostC' px 10000 >/dev/null
	on hostB N3 -n --redis "$RURL" -k busy -- "$FC" touch "$T/ran"
	reap N3
	assert_rc N3 75
	assert_err_line "$T/N3.err" "sfexec: a flight for this key is running or shutting down on hostC (its runner, pid 5 there)"
	[[ ! -e $T/ran ]] || fail "the command ran"
}

@test "a full file system under a follower host's spools: its invocations end with 125 and an exact prefix; the other hosts get everything" {
	((EUID == 0)) || skip "needs root (mount)"
	head -c 3000000 /dev/urandom >"$T/big"
	host_up hostA
	host_up hostB
	host_up hostC
	mkdir -p -m 0700 "$T/hostB/rt"
	nsenter -t "${HOSTPID[hostB]}" -m -- mount -t tmpfs -o size=1m,mode=0700 sfexec-fleet "$T/hostB/rt" ||
		skip "cannot mount a tmpfs here"
	on hostA A --redis "$RURL" -k fullB -- "$FC" out 'x' gate "$T/go" cat "$T/big"
	wait_for 10 file_has "$T/A.out" x
	on hostB B --redis "$RURL" -k fullB -- "$FC" out 'b'
	on hostC C --redis "$RURL" -k fullB -- "$FC" out 'c'
	wait_for 10 file_has "$T/B.out" x
	wait_for 10 file_has "$T/C.out" x
	touch "$T/go"
	reap A 20
	reap B 20
	reap C 20
	assert_rc A 0
	assert_rc C 0
	{ printf x; cat "$T/big"; } >"$T/want"
	assert_same_bytes "$T/want" "$T/A.out"
	assert_same_bytes "$T/want" "$T/C.out"
	assert_rc B 125
	assert_err_line "$T/B.err" "sfexec: cannot spool the output here: No space left on device"
	assert_prefix_of "$T/want" "$T/B.out"
}

@test "Redis paused past the lease (CLIENT PAUSE): the leader stops its command, followers end, nothing hangs" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 1 --grace 0.2 -k paused -- "$FC" out 'x\n' gate "$T/never"
	wait_for 10 file_has "$T/A.out" x
	on hostB B --redis "$RURL" --lease 1 -k paused -- "$FC" out 'y\n'
	wait_for 10 file_has "$T/B.out" x
	local t0
	t0=$(now_ms)
	rcli client pause 3000 ALL >/dev/null
	reap A 10
	reap B 10
	(($(elapsed_ms "$t0") <= 2500)) || fail "took $(elapsed_ms "$t0") ms (lease 1 s)"
	assert_rc A 125
	assert_rc B 125
	assert_match "^sfexec: lost this flight's lease on Redis \(" "$(cat "$T/A.err")"
	assert_match "^sfexec: lost Redis at $RURL: no answer within " "$(cat "$T/B.err")"
	wait_for 10 redis_ready
	on hostB C --redis "$RURL" -k paused -- "$FC" out 'again\n'
	reap C
	assert_rc C 0
}

@test "a follower's runner killed: its invocations end with 125, the leader and other hosts go on" {
	host_up hostA
	host_up hostB
	host_up hostC
	on hostA A --redis "$RURL" -k victim -- "$FC" out 'one\n' gate "$T/go" out 'two\n'
	wait_for 10 file_has "$T/A.out" one
	on hostB B --redis "$RURL" -k victim -- "$FC" out 'x\n'
	on hostC C --redis "$RURL" -k victim -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" one
	wait_for 10 file_has "$T/C.out" one
	kill -KILL "$(runner_on hostB victim)"
	reap B 10
	assert_rc B 125
	touch "$T/go"
	reap A
	reap C
	assert_rc A 0
	assert_rc C 0
	assert_file_is "$T/A.out" $'one\ntwo\n'
	assert_file_is "$T/C.out" $'one\ntwo\n'
}

@test "last one out, fleet-wide: the command runs while another host follows, and stops once nobody anywhere is left" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 1.5 --grace 0.2 -k lastout -- "$FC" trapterm "$T/term" \
		out 'one\n' gate "$T/go" out 'two\n' gate "$T/never" 
	wait_for 10 file_has "$T/A.out" one
	on hostB B --redis "$RURL" -k lastout -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" one
	# the leader's host is left by its only invocation
	kill -TERM "$(inv_of A)"
	reap A
	touch "$T/go"
	wait_for 10 file_has "$T/B.out" two
	[[ ! -e $T/term ]] || fail "the command was stopped while hostB followed"
	# the last invocation anywhere leaves: the command is stopped
	local t0
	t0=$(now_ms)
	kill -TERM "$(inv_of B)"
	reap B
	wait_for 5 file_has "$T/term" TERM
	(($(elapsed_ms "$t0") <= 2000)) || fail "stopped after $(elapsed_ms "$t0") ms (lease 1.5 s)"
	# and the key is free again once it is gone
	wait_for 5 unleased lastout
}

@test "output past --redis-max-bytes: followers end with 125 after exactly that many bytes; the leader's invocations get everything" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --redis-max-bytes 100K -k big -- bash -c \
		'echo start; while [[ ! -e '"$T"'/go ]]; do sleep 0.02; done
		 head -c 307200 /dev/zero | tr "\0" a'
	wait_for 10 file_has "$T/A.out" start
	on hostB B --redis "$RURL" -k big -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" start
	touch "$T/go"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 125
	assert_equal 307206 "$(stat -c %s "$T/A.out")" "leader's output"
	assert_equal 102400 "$(stat -c %s "$T/B.out")" "follower's output"
	assert_prefix_of "$T/A.out" "$T/B.out"
	assert_err_line "$T/B.err" "sfexec: the output is larger than the leader's --redis-max-bytes (102400 bytes) on hostA"
}

@test "garbage under the prefix: a hand-written lease, a fence of the wrong type, a malformed stream entry end the flight with 125 and a line" {
	local h
	h=$(keyhash junk)
	rcli set "sfexec:{$h}:lease" garbage >/dev/null
	sfrun --redis "$RURL" -k junk -- "$FC" touch "$T/ran"
	assert_status 125
	assert_err_line "$T/run.err" "sfexec: Redis at $RURL: malformed lease in sfexec:{$h}:lease"
	rcli del "sfexec:{$h}:lease" >/dev/null
	rcli hset "sfexec:{$h}:fence" a b >/dev/null
	sfrun --redis "$RURL" -k junk -- "$FC" touch "$T/ran"
	assert_status 125
	assert_match "^sfexec: Redis at $RURL: .*WRONGTYPE" "$stderr"
	[[ ! -e $T/ran ]] || fail "the command ran"
	rcli del "sfexec:{$h}:fence" >/dev/null
	# an entry of the wrong shape in a live flight's stream
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" -k junk -- "$FC" out 'one\n' gate "$T/go" out 'two\n'
	wait_for 10 file_has "$T/A.out" one
	on hostB B --redis "$RURL" -k junk -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" one
	# an entry larger than any the leader writes (256 KiB)
	head -c 300000 /dev/zero | tr '\0' z | rcli -x xadd "sfexec:{$h}:1:out" '*' o >/dev/null
	reap B 10
	assert_rc B 125
	assert_err_line "$T/B.err" "sfexec: malformed entry in sfexec:{$h}:1:out on Redis at $RURL"
	assert_file_is "$T/B.out" $'one\n'
	touch "$T/go"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'one\ntwo\n'
}

@test "bad --redis URLs are refused with one line before anything runs" {
	usage_error "sfexec: --redis ftp://h: not a Redis URL (redis://HOST[:PORT][/DB] or unix:///PATH)" \
		--redis ftp://h -k k -- "$FC" touch "$T/ran"
	usage_error "sfexec: --redis redis://u:pw@h: a password in the URL would show in ps: set SFEXEC_REDIS_PASSWORD instead" \
		--redis redis://u:pw@h -k k -- "$FC" touch "$T/ran"
	usage_error "sfexec: --redis rediss://h: rediss:// (TLS) is not supported; reach Redis through a local TLS tunnel" \
		--redis rediss://h -k k -- "$FC" touch "$T/ran"
	usage_error "sfexec: --redis unix://r.sock: unix:// needs an absolute path (unix:///run/redis.sock)" \
		--redis unix://r.sock -k k -- "$FC" touch "$T/ran"
	usage_error "sfexec: --redis redis://h:99999: bad port in the URL" \
		--redis redis://h:99999 -k k -- "$FC" touch "$T/ran"
	usage_error "sfexec: --redis-prefix, --lease, --redis-optional and --redis-max-bytes need --redis (or SFEXEC_REDIS); try 'sfexec --help'" \
		--lease 3 -k k -- "$FC" touch "$T/ran"
}

@test "a password from SFEXEC_REDIS_PASSWORD, never from argv; a wrong one is a clear 125" {
	redis_down
	rcli() { redis-cli -s "$RDIR/redis.sock" --no-auth-warning -a s3cret "$@"; }
	redis_up --requirepass 's3cret'
	sfrun --redis "$RURL" -k authed -- "$FC" touch "$T/ran"
	assert_status 125
	assert_match "^sfexec: Redis at $RURL: NOAUTH" "$stderr"
	[[ ! -e $T/ran ]] || fail "the command ran"
	SFEXEC_REDIS_PASSWORD=wrong sfrun --redis "$RURL" -k authed -- "$FC" touch "$T/ran"
	assert_status 125
	assert_match "^sfexec: Redis at $RURL: WRONGPASS" "$stderr"
	SFEXEC_REDIS_PASSWORD=s3cret sfrun --redis "$RURL" -k authed -- "$FC" out 'in\n'
	assert_status 0
	assert_equal in "$output"
	assert_equal 1 "$(rcli get "sfexec:{$(keyhash authed)}:fence")"
}

@test "what Redis holds: the digest, never the key's text; the arguments only for --list" {
	sfrun --redis "$RURL" -k 'secret key text' -- "$FC" out 'output\n' touch "$T/argv-marker"
	assert_status 0
	rcli --scan >"$T/keys"
	local k
	while read -r k; do
		assert_match '^sfexec:\{[0-9a-f]{32}\}:(fence|1:out|1:meta)$' "$k" "key"
		rcli --raw dump "$k" >"$T/dump"
		! grep -qa 'secret key text' "$T/dump" || fail "the key's text is in $k"
		case $k in
		*:meta) file_has "$T/dump" argv-marker || fail "no arguments in $k" ;;
		*) ! grep -qa 'argv-marker' "$T/dump" || fail "the arguments are in $k" ;;
		esac
		[[ $k != *:out ]] || file_has "$T/dump" output || fail "no output in $k"
	done <"$T/keys"
	! grep -qa 'secret key text' "$T/keys" || fail "the key's text is in a key's name"
}

@test "--redis-prefix separates: one key under two prefixes is two flights" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" -k shared -- "$FC" count "$T/count" gate "$T/go"
	wait_for 10 count_is "$T/count" 1
	on hostB B --redis "$RURL" --redis-prefix team2: -k shared -- "$FC" count "$T/count"
	reap B
	assert_rc B 0
	assert_count "$T/count" 2
	[[ -n $(rcli get "team2:{$(keyhash shared)}:fence") ]] || fail "nothing under team2:"
	touch "$T/go"
	reap A
	assert_rc A 0
}

@test "a follower replays the leader's end as the leader's invocations saw it: status, signal, a command that cannot run" {
	# a leader written by hand: its lease, its stream, its end
	local h
	h=$(keyhash fake)
	rcli set "sfexec:{$h}:lease" "1:token:4242:fakehost" px 20000 >/dev/null
	rcli xadd "sfexec:{$h}:1:out" '*' o $'hello\n' >/dev/null
	rcli xadd "sfexec:{$h}:1:out" '*' e $'oops\n' >/dev/null
	rcli xadd "sfexec:{$h}:1:out" '*' x "3 0 2 6 5" n /nonexistent/cmd >/dev/null
	sfrun --redis "$RURL" -k fake -- "$FC" touch "$T/ran"
	assert_status 127
	assert_equal hello "$output"
	assert_file_is "$T/run.err" $'oops\nsfexec: failed to run command \'/nonexistent/cmd\': No such file or directory\n'
	[[ ! -e $T/ran ]] || fail "the command ran on the follower"
	rcli del "sfexec:{$h}:1:out" >/dev/null
	rcli xadd "sfexec:{$h}:1:out" '*' x "2 9 0 0 0" >/dev/null
	sfrun --redis "$RURL" -k fake -- "$FC" touch "$T/ran"
	assert_status 137
	rcli del "sfexec:{$h}:1:out" >/dev/null
	# sizes that disagree with what came, an unknown kind, a sign: garbage
	for bad in "1 0 0 1 0" "6 0 0 0 0" "1 +0 0 0 0" "1 0 0 0" "1  0 0 0 0"; do
		rcli del "sfexec:{$h}:1:out" >/dev/null
		rcli xadd "sfexec:{$h}:1:out" '*' x "$bad" >/dev/null
		sfrun --redis "$RURL" -k fake -- "$FC" touch "$T/ran"
		assert_status 125
		assert_err_line "$T/run.err" "sfexec: malformed entry in sfexec:{$h}:1:out on Redis at $RURL"
	done
}

@test "a Redis that is not one: huge or malformed answers, a closed or silent connection end a follower with 125 and a line" {
	local mode
	for mode in hugearray hugestring wrongtype junk close silent; do
		"$TOOLS/fake-redis" "$T/fake.$mode" "$mode" &
		echo $! >>"$T/.pids"
		wait_for 10 test -S "$T/fake.$mode"
		SFRUN_TIMEOUT=20 sfrun --redis "unix://$T/fake.$mode" --lease 1 -k hostile -- "$FC" touch "$T/ran"
		assert_status 125
		[[ ! -e $T/ran ]] || fail "$mode: the command ran"
		assert_equal 1 "$(lines_in "$T/run.err")" "$mode: lines on stderr"
		case $mode in
		hugearray)
			assert_err_line "$T/run.err" "sfexec: lost Redis at unix://$T/fake.$mode: an answer larger than any sfexec asks for" ;;
		hugestring | silent)
			# hiredis waits for the whole string, which never comes
			assert_match "^sfexec: lost Redis at unix://$T/fake.$mode: no answer within 1.3 s$" "$stderr" ;;
		wrongtype)
			assert_err_line "$T/run.err" "sfexec: malformed entry in sfexec:{$(keyhash hostile)}:1:out on Redis at unix://$T/fake.$mode" ;;
		*)
			assert_match "^sfexec: lost Redis at unix://$T/fake.$mode: " "$stderr" ;;
		esac
	done
}

@test "Redis out of memory (maxmemory, noeviction): the leader's invocations get everything, followers end with 125 well within the lease" {
	redis_down
	redis_up --maxmemory 4mb --maxmemory-policy noeviction
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 30 -k oom -- bash -c \
		'echo start; while [[ ! -e '"$T"'/go ]]; do sleep 0.02; done
		 head -c 16000000 /dev/zero | tr "\0" x; echo end'
	wait_for 10 file_has "$T/A.out" start
	on hostB B --redis "$RURL" --lease 30 -k oom -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" start
	touch "$T/go"
	reap A 30
	reap B 10
	assert_rc A 0
	assert_equal 16000010 "$(stat -c %s "$T/A.out")" "the leader's output"
	assert_rc B 125
	assert_err_line "$T/B.err" "sfexec: flight owner on hostA lost (its lease on Redis ran out, was given up or was taken)"
	assert_prefix_of "$T/A.out" "$T/B.out"
}

@test "a Redis that never answers at start: 125 after 2 s, not after the lease, with or without AUTH" {
	"$TOOLS/fake-redis" "$T/mute" mute &
	echo $! >>"$T/.pids"
	wait_for 10 test -S "$T/mute"
	local t0 pw
	for pw in "" secret; do
		t0=$(now_ms)
		SFEXEC_REDIS_PASSWORD=$pw sfrun --redis "unix://$T/mute" -k mute -- "$FC" touch "$T/ran"
		assert_status 125
		assert_err_line "$T/run.err" "sfexec: Redis at unix://$T/mute: no answer within 2.0 s"
		(($(elapsed_ms "$t0") < 5000)) || fail "gave up after $(elapsed_ms "$t0") ms (lease 10 s)"
	done
	[[ ! -e $T/ran ]] || fail "the command ran"
	SFEXEC_REDIS_PASSWORD= usage_error "sfexec: --redis redis://bob@localhost: user bob needs a password in SFEXEC_REDIS_PASSWORD" \
		--redis redis://bob@localhost -k k -- "$FC" touch "$T/ran"
}

@test "--ttl across hosts: one host's stored result is replayed on another without a run, and kept there too" {
	host_up hostA
	host_up hostB
	host_up hostC
	local lines
	on hostA A --redis "$RURL" --ttl 60 -k report -- "$FC" count "$T/count" out 'result\n' err 'note\n'
	reap A
	assert_rc A 0
	on hostB B --redis "$RURL" --ttl 60 -k report -- "$FC" count "$T/count" out 'other\n'
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'result\n'
	assert_file_is "$T/B.err" $'note\n'
	assert_count "$T/count" 1
	on hostC V -v --redis "$RURL" --ttl 60 -k report -- "$FC" count "$T/count" out 'other\n'
	reap V
	assert_rc V 0
	mapfile -t lines <"$T/V.err"
	assert_equal 3 "${#lines[@]}" "lines of V.err"
	assert_match '^sfexec: started flight \(runner pid [0-9]+\)$' "${lines[0]}"
	assert_match '^sfexec: replaying the result that hostA stored in Redis \(its runner, pid [0-9]+ there\)$' "${lines[1]}"
	assert_equal note "${lines[2]}"
	# hostB stored it too: a hit there needs no Redis
	redis_down
	on hostB B2 --redis "$RURL" --ttl 60 -k report -- "$FC" count "$T/count" out 'other\n'
	reap B2
	assert_rc B2 0
	assert_file_is "$T/B2.out" $'result\n'
	assert_count "$T/count" 1
	redis_up
	# a result in Redis older than the TTL is not replayed: a new run
	on hostA A2 --redis "$RURL" --ttl 60 -k again -- "$FC" count "$T/count2" out 'one\n'
	reap A2
	local c
	c=$(rcli get "sfexec:{$(keyhash again)}:cache")
	rcli set "sfexec:{$(keyhash again)}:cache" "1000 ${c#* }" >/dev/null
	on hostC C --redis "$RURL" --ttl 60 -k again -- "$FC" count "$T/count2" out 'two\n'
	reap C
	assert_file_is "$T/C.out" $'two\n'
	assert_count "$T/count2" 2
	# --refresh reads no stored result, in Redis either
	on hostC D --redis "$RURL" --ttl 60 --refresh -k report -- "$FC" count "$T/count" out 'fresh\n'
	reap D
	assert_file_is "$T/D.out" $'fresh\n'
	assert_count "$T/count" 2
}

@test "--ttl across hosts: a failure is not stored in Redis unless --cache-failures" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --ttl 60 -k failing -- "$FC" count "$T/count" exit 3
	reap A
	assert_rc A 3
	on hostB B --redis "$RURL" --ttl 60 -k failing -- "$FC" count "$T/count" exit 3
	reap B
	assert_rc B 3
	assert_count "$T/count" 2
	on hostA C --redis "$RURL" --ttl 60 --cache-failures -k failing2 -- "$FC" count "$T/count2" exit 4
	reap C
	on hostB D --redis "$RURL" --ttl 60 --cache-failures -k failing2 -- "$FC" count "$T/count2" exit 4
	reap D
	assert_rc D 4
	assert_count "$T/count2" 1
}

@test "stale-while-revalidate across hosts: two hosts' refreshes of one stale result run the command once" {
	host_up hostA
	host_up hostB
	host_up hostC
	local opts=(--redis "$RURL" --ttl 60 --stale-while-revalidate 600 -k swr)
	on hostA A "${opts[@]}" -- "$FC" count "$T/count" out 'v1\n'
	reap A
	on hostB B "${opts[@]}" -- "$FC" count "$T/count" out 'v1\n'
	on hostC C "${opts[@]}" -- "$FC" count "$T/count" out 'v1\n'
	reap B
	reap C
	assert_file_is "$T/B.out" $'v1\n'
	assert_file_is "$T/C.out" $'v1\n'
	assert_count "$T/count" 1
	# every copy goes stale: each host's and Redis's
	local h c
	for h in hostA hostB hostC; do
		"$TOOLS/cache-entry" "$T/$h/rt/$(keyhash swr).cache" age 120
	done
	c=$(rcli get "sfexec:{$(keyhash swr)}:cache")
	rcli set "sfexec:{$(keyhash swr)}:cache" "1000 ${c#* }" px 600000 >/dev/null
	# B and C replay v1 at once and refresh in the background: one run
	on hostB B2 "${opts[@]}" -- "$FC" count "$T/count" gate "$T/go" out 'v2\n'
	on hostC C2 "${opts[@]}" -- "$FC" count "$T/count" gate "$T/go" out 'v2\n'
	reap B2
	reap C2
	assert_file_is "$T/B2.out" $'v1\n'
	assert_file_is "$T/C2.out" $'v1\n'
	wait_for 10 count_is "$T/count" 2
	touch "$T/go"
	# both hosts end up with v2, from the one run
	wait_for 10 fresh_on hostB
	wait_for 10 fresh_on hostC
	assert_count "$T/count" 2
}

@test "--cancel --redis from any host stops the leader's command: every host's invocations end as it did" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --lease 1.5 -k cancelme -- "$FC" out 'x\n' gate "$T/never"
	wait_for 10 file_has "$T/A.out" x
	on hostB B --redis "$RURL" --lease 1.5 -k cancelme -- "$FC" out 'y\n'
	wait_for 10 file_has "$T/B.out" x
	local t0
	t0=$(now_ms)
	SFEXEC_DIR=$T/hostB/rt sfrun --cancel --redis "$RURL" --grace 0.5 -k cancelme
	assert_status 0
	assert_empty "$T/run.err"
	reap A 10
	reap B 10
	assert_rc A 143
	assert_rc B 143
	(($(elapsed_ms "$t0") <= 2000)) || fail "took $(elapsed_ms "$t0") ms (lease 1.5 s)"
	assert_file_is "$T/B.out" $'x\n'
	# nothing left to cancel, anywhere
	SFEXEC_DIR=$T/hostB/rt sfrun --cancel --redis "$RURL" -k cancelme
	assert_status 1
}

@test "--forget --redis removes the result stored in Redis: the next host runs afresh" {
	host_up hostA
	host_up hostB
	on hostA A --redis "$RURL" --ttl 60 -k forgetme -- "$FC" count "$T/count" out 'one\n'
	reap A
	SFEXEC_DIR=$T/hostB/rt sfrun --forget --redis "$RURL" -k forgetme
	assert_status 0
	[[ -z $(rcli get "sfexec:{$(keyhash forgetme)}:cache") ]] || fail "the result is still in Redis"
	on hostB B --redis "$RURL" --ttl 60 -k forgetme -- "$FC" count "$T/count" out 'two\n'
	reap B
	assert_file_is "$T/B.out" $'two\n'
	assert_count "$T/count" 2
	# hostA still has its own copy until it is forgotten there
	SFEXEC_DIR=$T/hostA/rt sfrun --forget -k forgetme
	assert_status 0
	SFEXEC_DIR=$T/hostB/rt sfrun --forget --redis "$RURL" -k nothing-here
	assert_status 1
	# an unreachable Redis is a clear 125
	SFEXEC_DIR=$T/hostB/rt sfrun --forget --redis "unix://$T/nowhere.sock" -k forgetme
	assert_status 125
	assert_match "^sfexec: cannot forget: Redis at unix://$T/nowhere.sock: " "$stderr"
}

@test "--list --redis: the fleet's flights with the leader's host and pid, and the results stored in Redis" {
	host_up hostA
	host_up hostB
	on hostA S --redis "$RURL" --ttl 60 -k stored -- "$FC" out 'kept\n' err 'e\n'
	reap S
	on hostA A --redis "$RURL" -k live -- "$FC" out 'abc\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" abc
	local pid
	pid=$(runner_on hostA live)
	# from hostB, which has neither: rows from Redis only
	SFEXEC_DIR=$T/hostB/rt sfrun --list --json --redis "$RURL"
	assert_status 0
	assert_empty "$T/run.err"
	python3 - "$T/run.out" "$(keyhash live)" "$(keyhash stored)" "$FC" "$T/gate" <<-'PY' || fail "rows: $(cat "$T/run.out")"
	import json, sys
	rows = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
	live, stored = rows[sys.argv[2]], rows[sys.argv[3]]
	assert len(rows) == 2, rows
	assert live["state"] == "running" and live["host"] == "hostA", live
	assert live["key"] is None and live["stdout_bytes"] == 4, live
	# (a backslash shows doubled: see --list --json in sfexec(1))
	assert live["argv"] == [sys.argv[4], "out", "abc\\\\n", "gate", sys.argv[5]], live
	assert live["started"] is not None and live["exit_status"] is None, live
	assert stored["state"] == "cached" and stored["host"] == "hostA", stored
	assert stored["exit_status"] == 0 and stored["stdout_bytes"] == 5, stored
	assert stored["stderr_bytes"] == 2 and stored["keep_until"] is not None, stored
	PY
	# the pid is hostA's: the same runner --list on hostA sees (in its
	# namespace, which hostA's --list reports from ours)
	[[ -n $pid ]] || fail "no runner on hostA"
	# from hostA: its own row and the fleet's, named by it
	SFEXEC_DIR=$T/hostA/rt sfrun --list --redis "$RURL"
	assert_status 0
	assert_match '^KEY +STATE +PID +HOST +AGE +INVOCATIONS +STDOUT +STDERR +STATUS +COMMAND$' \
		"$(sed -n 1p "$T/run.out")" "the header"
	assert_equal 2 "$(grep -c '^live  ' "$T/run.out")" "rows of live (this host's and the fleet's)"
	grep -qE '^live +running +[0-9]+ +hostA ' "$T/run.out" || fail "no fleet row for live: $(cat "$T/run.out")"
	grep -qE '^live +running +[0-9]+ +- ' "$T/run.out" || fail "no local row for live: $(cat "$T/run.out")"
	# an unreachable Redis: 125 and a line
	SFEXEC_DIR=$T/hostB/rt sfrun --list --redis "unix://$T/nowhere.sock"
	assert_status 125
	assert_match "^sfexec: cannot list: Redis at unix://$T/nowhere.sock: " "$stderr"
	touch "$T/gate"
	reap A
}

@test "--forget --redis of a running flight: the next invocation anywhere starts afresh; the forgotten one runs on for those attached and stores nothing" {
	host_up hostA
	host_up hostB
	host_up hostC
	on hostA A --redis "$RURL" --lease 1.5 --ttl 60 -k forgotten -- "$FC" count "$T/count" \
		out 'old1\n' gate "$T/go" out 'old2\n'
	wait_for 10 file_has "$T/A.out" old1
	on hostB B --redis "$RURL" --lease 1.5 --ttl 60 -k forgotten -- "$FC" out 'x\n'
	wait_for 10 file_has "$T/B.out" old1
	SFEXEC_DIR=$T/hostC/rt sfrun --forget --redis "$RURL" -k forgotten
	assert_status 0
	# a newcomer on hostC runs its own flight at once
	on hostC C --redis "$RURL" --lease 1.5 --ttl 60 -k forgotten -- "$FC" count "$T/count" out 'new\n'
	reap C
	assert_rc C 0
	assert_file_is "$T/C.out" $'new\n'
	assert_count "$T/count" 2
	# the leader hears it with its next renewal, the follower with its
	# next poll: both hosts' runners say so
	wait_for 5 state_on hostA forgotten forgotten
	wait_for 5 state_on hostB forgotten forgotten
	touch "$T/go"
	reap A
	reap B
	assert_rc A 0
	assert_rc B 0
	assert_file_is "$T/A.out" $'old1\nold2\n'
	assert_file_is "$T/B.out" $'old1\nold2\n'
	# what is stored is C's result, not the forgotten one's
	on hostB D --redis "$RURL" --ttl 60 -k forgotten -- "$FC" count "$T/count" out 'ran\n'
	reap D
	assert_file_is "$T/D.out" $'new\n'
	assert_count "$T/count" 2
}
