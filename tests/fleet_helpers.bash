# Helpers for the fleet tests (sfexec --redis): a private redis-server and
# simulated hosts.  Load after helpers.
#
#   redis_up [ARGS...]   start redis-server on $T/redis/redis.sock (no TCP
#                        port, no persistence; ARGS are extra settings),
#                        and set $RURL to its unix:// URL
#   redis_down           stop it (SIGKILL: a crash, as far as it knows)
#   rcli ARGS...         redis-cli on it
#   host_up NAME         a simulated host: its own PID, mount and UTS
#                        namespaces (host name NAME) and runtime directory
#                        $T/NAME/rt; skips the test where namespaces are
#                        not permitted
#   on NAME [-e V=X]... INV ARGS...   spawn an invocation INV on host NAME
#                        (like spawn: $T/INV.out, $T/INV.err, reap INV)
#   host_kill NAME       kill every process of host NAME at once
#
# teardown stops the hosts and the server.

RDIR=
declare -gA HOSTPID=()

redis_up() {
	RDIR=$T/redis
	mkdir -p "$RDIR"
	redis-server --port 0 --unixsocket "$RDIR/redis.sock" --unixsocketperm 700 \
		--save '' --appendonly no --dir "$RDIR" --logfile "$RDIR/log" \
		--pidfile "$RDIR/pid" "$@" &
	echo $! >"$RDIR/server.pid"
	echo $! >>"$T/.pids"
	RURL=unix://$RDIR/redis.sock
	export RURL
	wait_for 10 redis_ready
}

redis_ready() { [[ $(rcli ping 2>/dev/null) == PONG ]]; }

rcli() { redis-cli -s "$RDIR/redis.sock" "$@"; }

redis_down() {
	local p
	[[ -n $RDIR && -f $RDIR/server.pid ]] || return 0
	read -r p <"$RDIR/server.pid"
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null || true
	rm -f "$RDIR/server.pid" "$RDIR/redis.sock"
}

host_up() {
	local name=$1 u
	mkdir -p "$T/$name"
	unshare -p -f -m -u --mount-proc true 2>/dev/null ||
		skip "PID and UTS namespaces are not permitted here"
	unshare -p -f -m -u --mount-proc "$TOOLS/fakehost" "$name" "$T/$name/ready" \
		</dev/null >/dev/null 2>&1 &
	u=$!
	echo "$u" >>"$T/.pids"
	wait_for 10 test -e "$T/$name/ready"
	HOSTPID[$name]=$(pgrep -P "$u")
	echo "${HOSTPID[$name]}" >>"$T/.pids"
}

# on HOST [-i STDIN] [-e VAR=VAL]... NAME ARGS...: spawn, inside HOST.
on() {
	local host=$1
	shift
	spawn -w "nsenter -t ${HOSTPID[$host]} -p -u -m --" -e SFEXEC_DIR="$T/$host/rt" "$@"
}

host_kill() { kill -KILL "${HOSTPID[$1]}"; }

fleet_teardown() {
	local h
	for h in "${!HOSTPID[@]}"; do
		kill -KILL "${HOSTPID[$h]}" 2>/dev/null
	done
	redis_down
}

# runner_on HOST KEY: the pid (as seen from here) of HOST's runner of KEY,
# from --list (the kernel translates it across the PID namespaces).
runner_on() {
	SFEXEC_DIR=$T/$1/rt "$SFEXEC" --list --json | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r["key"] == sys.argv[1] and r["runner_pid"]:
        print(r["runner_pid"]); break' "$2"
}

# inv_of NAME: the sfexec process of invocation NAME started with `on`
# (nsenter's child).
inv_of() { pgrep -P "${PIDS[$1]}"; }

# state_on HOST KEY STATE: HOST's runner of KEY is in STATE (--list).
state_on() {
	SFEXEC_DIR=$T/$1/rt "$SFEXEC" --list --json | python3 -c '
import json, sys
sys.exit(not any(r["key"] == sys.argv[1] and r["state"] == sys.argv[2]
                 for r in map(json.loads, sys.stdin)))' "$2" "$3"
}

# stream_of KEY [FENCE]: the Redis key of flight FENCE's stream (default 1).
stream_of() { echo "sfexec:{$(keyhash "$1")}:${2:-1}:out"; }

# assert_closed STREAM: STREAM's last entry is the one a leader that lost
# its lease leaves (fleet.c, guard_lua): "lost" at the last possible ID.
assert_closed() {
	assert_equal $'18446744073709551615-18446744073709551615\nlost\n1' \
		"$(rcli xrevrange "$1" + - count 1)" "the last entry of $1"
}
