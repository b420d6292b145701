#!/bin/bash
# valgrind.sh — a few sfexec scenarios under valgrind memcheck: the client,
# the starter and the runner (a fork, so valgrind follows it; the command
# itself is exec'd and not traced).  Every process must leave a complete log
# ("ERROR SUMMARY" written at its exit) reporting 0 errors and no definite
# leak.  TAP output.  Usage: tests/valgrind.sh [path/to/sfexec]
#
# Each invocation NAME logs to $tmp/logs/NAME.PID.log, one file per process.
# The "Parent PID" line of each log gives the tree: the client (whose parent
# is this script), the runner it forked when it started a flight, and the
# runner's child, the command.  The command's log stops after valgrind's
# header when it exec's (children are not traced): only such a log may lack
# the summary.
set -u
sfexec=${1:-build/sfexec}
here=$(cd "$(dirname "$0")" && pwd)
FC=$here/tools/flightcmd
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
[ -x "$sfexec" ] || { echo "valgrind.sh: $sfexec: not an executable" >&2; exit 1; }
tmp=$(mktemp -d)
export SFEXEC_DIR="$tmp/rt"
# cleanup: kill what a failed scenario may have left running (every process
# of ours, and only ours, has this SFEXEC_DIR in its environment)
cleanup() {
	local e p
	for e in /proc/[0-9]*/environ; do
		p=${e#/proc/}
		p=${p%/environ}
		[ "$p" != $$ ] && grep -qzE "^SFEXEC_DIR=$tmp/" "$e" 2>/dev/null &&
			kill -KILL "$p" 2>/dev/null
	done
	[ -z "${redis_pid-}" ] || kill -KILL "$redis_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/logs"

# The invocations, and how many runner logs each must leave: one for each
# that starts a flight, none for a joiner or a usage error.
names=(plain status notfound timeout usage store hit S J1 J2 J3 list forget)
declare -A runners=([plain]=1 [status]=1 [notfound]=1 [timeout]=1 [usage]=0
	[store]=1 [hit]=0 [S]=1 [J1]=0 [J2]=0 [J3]=0 [list]=0 [forget]=0)
# fleet mode, when redis-server is there and sfexec was built with it: a
# leader's runner (FL) and a follower's (FF) on two "hosts" (runtime dirs)
fleet=no
if command -v redis-server >/dev/null &&
	! "$sfexec" --redis unix:///nonexistent -k k -- true 2>&1 | grep -q 'built without'; then
	fleet=yes
	names+=(FL FF)
	runners+=([FL]=1 [FF]=1)
fi

# vg NAME ARGS...: sfexec ARGS under memcheck, logs in $tmp/logs/NAME.*.
# Not --quiet: the ERROR SUMMARY line must be written.
vg() {
	local name=$1
	shift
	valgrind --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --track-fds=no \
	    --log-file="$tmp/logs/$name.%p.log" "$sfexec" "$@"
}

n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {   # not_ok WHAT [DETAIL...]
	n=$((n + 1)); fail=$((fail + 1))
	echo "not ok $n - $1"
	shift
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
}
check() {   # check NAME WANT_STATUS GOT_STATUS
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: status $3, wanted $2"; fi
}
# check_file WHAT EXPECTED_FILE FILE
check_file() {
	if cmp -s "$2" "$3"; then ok "$1"; else
		not_ok "$1" "expected: $(od -c "$2" | head -n 3)" "     got: $(od -c "$3" | head -n 3)"; fi
}

# wait_until SECONDS COMMAND...: run COMMAND every 0.05 s until it
# succeeds; false when SECONDS pass first.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# ---- scenarios ----------------------------------------------------------------

vg plain -k a -- "$FC" out 'out\n' >"$tmp/plain.out"
check "plain run" 0 $?
printf 'out\n' >"$tmp/want"
check_file "plain run: stdout" "$tmp/want" "$tmp/plain.out"

vg status -k b -- "$FC" err 'err\n' exit 3 2>"$tmp/status.err"
check "exit status" 3 $?
printf 'err\n' >"$tmp/want"
check_file "exit status: stderr" "$tmp/want" "$tmp/status.err"

# the runner's child fails to exec and exits under valgrind: a full log
vg notfound -k c -- /nonexistent/cmd 2>/dev/null
check "command not found" 127 $?

# the only invocation gives up: the runner ends the command and leaves
vg timeout -w 0.2 -q -k d -- "$FC" gate "$tmp/never" 60
check "wait timeout" 124 $?

vg usage --bogus 2>/dev/null
check "usage error" 125 $?

# the cache: the runner stores the result (links its spools, writes the
# entry), then a hit replays it without a runner
vg store --ttl 60 -k f -- "$FC" out 'kept\n' err 'e\n' >"$tmp/store.out" 2>/dev/null
check "--ttl: a miss stores" 0 $?
vg hit --ttl 60 -k f -- "$FC" out 'not run\n' >"$tmp/hit.out" 2>/dev/null
check "--ttl: a hit" 0 $?
printf 'kept\n' >"$tmp/want"
check_file "--ttl: the hit replays the stored stdout" "$tmp/want" "$tmp/hit.out"

# Concurrent joiners: S starts the flight, its command counts the run,
# says it has started and waits at a gate; J1..J3 join while it waits,
# then the gate opens and all four get the same 100000 bytes.
head -c 100000 /dev/urandom >"$tmp/data"
vg S -v -k e -- "$FC" count "$tmp/runs" touch "$tmp/started" \
    gate "$tmp/gate" 120 cat "$tmp/data" >"$tmp/S.out" 2>"$tmp/S.err" &
declare -A bg=([S]=$!)
if wait_until 30 test -e "$tmp/started"; then ok "the flight's command started"; else
	not_ok "the flight's command did not start within 30 s" "$(cat "$tmp/S.err")"; fi
for j in J1 J2 J3; do
	vg "$j" -v -k e -- "$FC" count "$tmp/runs" cat "$tmp/data" >"$tmp/$j.out" 2>"$tmp/$j.err" &
	bg[$j]=$!
done
# joined NAME...: each NAME printed its "joined flight" line
joined() {
	local j
	for j; do grep -q '^sfexec: joined flight ' "$tmp/$j.err" 2>/dev/null || return 1; done
}
if wait_until 30 joined J1 J2 J3; then ok "J1, J2 and J3 joined the flight"; else
	not_ok "not all joiners joined within 30 s" "$(head -n 3 "$tmp"/J*.err)"; fi
# --list asks the running flight's runner (traced too) and reads the
# stored result of f
vg list --list --json >"$tmp/list.out" 2>&1
check "--list" 0 $?
if grep -q '"key":"e".*"state":"running".*"invocations":4' "$tmp/list.out" &&
	grep -q '"key":"f".*"state":"cached"' "$tmp/list.out"; then ok "--list: the flight and the stored result"
else not_ok "--list rows" "$(cat "$tmp/list.out")"; fi
touch "$tmp/gate"
for j in S J1 J2 J3; do
	wait "${bg[$j]}"
	check "$j: status" 0 $?
	check_file "$j got the whole output" "$tmp/data" "$tmp/$j.out"
done
vg forget --forget -k f
check "--forget of a stored result" 0 $?
runs=$(wc -l <"$tmp/runs" 2>/dev/null || echo 0)
if [ "$runs" = 1 ]; then ok "one run for the four concurrent invocations"; else
	not_ok "the command ran $runs times for four concurrent invocations, wanted once"; fi
if grep -qE '^sfexec: started flight \(runner pid [0-9]+\)$' "$tmp/S.err" &&
	[ "$(wc -l <"$tmp/S.err")" = 1 ]; then ok "S started the flight"; else
	not_ok "S's stderr is not one 'started flight' line" "$(head -n 3 "$tmp/S.err")"; fi

# Fleet mode: the leader (host A) publishes 100000 bytes through a private
# Redis to the follower (host B), which joined while the command waited.
if [ "$fleet" = yes ]; then
	mkdir "$tmp/redis"
	redis-server --port 0 --unixsocket "$tmp/redis/s" --unixsocketperm 700 \
	    --save '' --appendonly no --dir "$tmp/redis" --logfile "$tmp/redis/log" &
	redis_pid=$!
	url=unix://$tmp/redis/s
	wait_until 10 sh -c "redis-cli -s '$tmp/redis/s' ping 2>/dev/null | grep -q PONG"
	SFEXEC_DIR=$tmp/rtA vg FL --redis "$url" -k g -- "$FC" touch "$tmp/fl.started" \
	    gate "$tmp/fl.gate" 120 cat "$tmp/data" >"$tmp/FL.out" 2>"$tmp/FL.err" &
	bg[FL]=$!
	wait_until 60 test -e "$tmp/fl.started"
	SFEXEC_DIR=$tmp/rtB vg FF --redis "$url" -k g -- "$FC" touch "$tmp/ff.ran" \
	    >"$tmp/FF.out" 2>"$tmp/FF.err" &
	bg[FF]=$!
	if wait_until 60 sh -c "redis-cli -s '$tmp/redis/s' --scan | grep -q presence"; then
		ok "fleet: the follower joined"
	else not_ok "fleet: no follower within 60 s" "$(cat "$tmp/FF.err")"; fi
	touch "$tmp/fl.gate"
	for j in FL FF; do
		wait "${bg[$j]}"
		check "fleet: $j: status" 0 $?
		check_file "fleet: $j got the whole output" "$tmp/data" "$tmp/$j.out"
	done
	if [ ! -e "$tmp/ff.ran" ]; then ok "fleet: the follower ran nothing"; else
		not_ok "fleet: the follower's host ran the command"; fi
fi

# ---- the logs -----------------------------------------------------------------

# complete LOG: the process has exited and valgrind wrote its summary
complete() { grep -q '^==[0-9]*== ERROR SUMMARY: ' "$1"; }
# preamble_only LOG: valgrind wrote its header and nothing else
preamble_only() {
	! grep -qvE '^==[0-9]+== ?(Memcheck, |Copyright |Using Valgrind|Command: |Parent PID: |$)' "$1"
}
ppid_of() { sed -n 's/^==[0-9]*== Parent PID: \([0-9]*\)$/\1/p' "$1"; }
pid_of() { local b=${1##*/}; b=${b%.log}; echo "${b##*.}"; }
name_of() { local b=${1##*/}; echo "${b%.*.log}"; }
# role_of LOG: client, runner, command or other, from the Parent PID
# lines of the logs of the same invocation
role_of() {
	local name d=0 l=$1 pp
	name=$(name_of "$1")
	while pp=$(ppid_of "$l") && [ -n "$pp" ] && [ -e "$tmp/logs/$name.$pp.log" ]; do
		d=$((d + 1))
		l=$tmp/logs/$name.$pp.log
		[ "$d" -lt 3 ] || break
	done
	case $d in 0) echo client ;; 1) echo runner ;; 2) echo command ;; *) echo other ;; esac
}
# exempt LOG: the command exec'd an untraced program (its log stops after
# the header); a command that stayed under valgrind, because its exec
# failed, must have a complete and clean log like the others
exempt() { [ "$(role_of "$1")" = command ] && preamble_only "$1"; }
all_complete() {
	local log
	for log in "$tmp"/logs/*.log; do
		[ -e "$log" ] || continue
		complete "$log" || exempt "$log" || return 1
	done
}

# Runners leave on their own once their clients are served and the command
# has ended (the timed-out one after its grace period).
if wait_until 30 all_complete; then ok "every traced process exited"; else
	not_ok "valgrind logs still incomplete after 30 s"; fi

for log in "$tmp"/logs/*.log; do
	[ -n "${runners[$(name_of "$log")]+x}" ] || not_ok "a log of no known invocation: ${log##*/}"
done
for name in "${names[@]}"; do
	clients=0 nrunners=0
	for log in "$tmp/logs/$name".*.log; do
		[ -e "$log" ] || continue
		p=$(pid_of "$log")
		role=$(role_of "$log")
		case $role in client) clients=$((clients + 1)) ;; runner) nrunners=$((nrunners + 1)) ;; esac
		if ! complete "$log"; then
			if exempt "$log"; then
				ok "$name: $role $p exec'd (not traced)"
			else
				not_ok "$name: $role $p: incomplete valgrind log (no ERROR SUMMARY)" "$(tail -n 5 "$log")"
			fi
		elif grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)|uninitialised' "$log" ||
			! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
			not_ok "$name: $role $p: valgrind reports errors" "$(cat "$log")"
		else
			ok "$name: $role $p: valgrind log clean"
		fi
	done
	if [ "$clients" = 1 ]; then ok "$name: one client log"; else
		not_ok "$name: $clients client logs, wanted 1" "$(ls "$tmp/logs")"; fi
	if [ "$nrunners" = "${runners[$name]}" ]; then ok "$name: $nrunners runner log(s)"; else
		not_ok "$name: $nrunners runner logs, wanted ${runners[$name]}" "$(ls "$tmp/logs")"; fi
done
echo "1..$n"
[ "$fail" -eq 0 ]
