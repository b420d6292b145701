# Shared helpers for the sfexec bats tests (load with `load helpers`).
#
# Conventions
#   $SFEXEC     absolute path of the binary under test (default: build/sfexec)
#   $T          this test's private scratch directory ($BATS_TEST_TMPDIR)
#   $SFEXEC_DIR a private runtime directory, $T/rt (not created in advance)
#   $FC         tests/tools/flightcmd, the scripted command most tests run
#
# Background invocations are started with `spawn NAME ...`: stdout goes to
# $T/NAME.out, stderr to $T/NAME.err, and `reap NAME` collects the exit
# status into ${RC[NAME]}.  Nothing here sleeps to synchronise: wait_for
# polls a condition every 0.02 s and fails the test after a bound.

SFEXEC=${SFEXEC:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)/build/sfexec}
TOOLS=$(cd "$BATS_TEST_DIRNAME/tools" && pwd)
FC=$TOOLS/flightcmd
PY=/usr/bin/python3
export SFEXEC TOOLS FC

declare -gA PIDS=() RC=()

VLINE_STARTED='^sfexec: started flight \(runner pid ([0-9]+)\)$'
VLINE_JOINED='^sfexec: joined flight \(started by pid ([0-9]+)\)$'

common_setup() {
	[[ -x $SFEXEC ]] || {
		echo "sfexec binary not found: $SFEXEC (set SFEXEC or run make)" >&2
		return 1
	}
	# see common_teardown: what replaced it may have finished late
	[[ -c /dev/null ]] || {
		echo "/dev/null is a $(stat -c %F /dev/null): a test before this one replaced it" >&2
		return 1
	}
	T=$BATS_TEST_TMPDIR
	export T
	export SFEXEC_DIR=$T/rt
	unset XDG_RUNTIME_DIR
	: >"$T/.pids"
}

# common_teardown: kill every process a test may have left behind: the
# invocations it spawned, the runners they reported with -v, and the
# process groups the commands recorded in $T/*.pgid.
common_teardown() {
	local p f r
	[[ -n ${T-} && -d $T ]] || return 0
	while read -r p; do
		[[ -n $p ]] && alive "$p" && kill -KILL "$p" 2>/dev/null
	done <"$T/.pids"
	for f in "$T"/*.err "$T"/*/*.err; do
		[[ -f $f ]] || continue
		r=$(sed -nE 's/^sfexec: started flight \(runner pid ([0-9]+)\)$/\1/p' "$f" | head -n1)
		if [[ -n $r ]] && alive "$r" && grep -qa sfexec "/proc/$r/cmdline" 2>/dev/null; then
			kill -KILL "$r" 2>/dev/null
		fi
	done
	for f in "$T"/*.pgid "$T"/*/*.pgid; do
		[[ -f $f ]] || continue
		read -r p <"$f" || continue
		[[ $p =~ ^[0-9]+$ && $p -gt 1 ]] && kill -KILL -- "-$p" 2>/dev/null
	done
	for f in "$T"/*.bgpid; do
		[[ -f $f ]] || continue
		read -r p <"$f" || continue
		[[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null
	done
	# runners of invocations run without -v: any sfexec process still
	# holding this test's runtime dir (or a file under $T) open
	local exe pids
	exe=$(readlink -f "$SFEXEC")
	pids=$(find /proc/[0-9]*/fd -maxdepth 1 \( -lname "$T/*" -o -lname "$SFEXEC_DIR" \
		-o -lname "$SFEXEC_DIR/*" \) 2>/dev/null | cut -d/ -f3 | sort -u)
	for p in $pids; do
		[[ $p != "$$" && $(readlink "/proc/$p/exe" 2>/dev/null) == "$exe" ]] &&
			kill -KILL "$p" 2>/dev/null
	done
	# reap our own children so none is left as a zombie
	wait 2>/dev/null || true
	# The test must leave the machine as it found it: a tool that saves a
	# file by renaming over /dev/null (zsh's compinit -d /dev/null did)
	# breaks every test after it; name the one that did it.
	[[ -c /dev/null ]] || fail "this test replaced /dev/null with a $(stat -c %F /dev/null)"
	return 0
}

setup() { common_setup; }
teardown() { common_teardown; }

# fail MESSAGE...: print to stderr (bats shows it) and fail the test.
fail() {
	printf '%s\n' "$@" >&2
	return 1
}

# alive PID: true while PID exists and is not a zombie.
alive() {
	local line st
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	st=${line##*) }
	st=${st%% *}
	[[ $st != Z ]]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.02 s until it succeeds;
# fail the test when SECONDS (decimal) pass first.  Only COMMAND runs again:
# its arguments are expanded once, so `wait_for 5 test "$(fd_count P)" -le 9`
# would never see the count change.  Name the condition instead (a function
# that computes the value itself: fds_at_most, queue_is, kb_used_is, ...).
wait_for() {
	local deadline=$(($(now_us) + $(secs_to_us "$1")))
	shift
	while ! "$@"; do
		if (($(now_us) > deadline)); then
			fail "wait_for: timed out: $*"
			return 1
		fi
		sleep 0.02
	done
}

# secs_to_us SECONDS: decimal seconds to microseconds.
secs_to_us() {
	local i=${1%%.*} f=
	[[ $1 == *.* ]] && f=${1#*.}
	f=${f}000000
	echo $((10#${i:-0} * 1000000 + 10#${f:0:6}))
}

# now_us / now_ms: wall clock in microseconds / milliseconds.
now_us() { echo "${EPOCHREALTIME/./}"; }
now_ms() { echo $(($(now_us) / 1000)); }

# spawn [-i STDIN] [-C DIR] [-e VAR=VAL]... NAME ARGS...: run
# "$SFEXEC" ARGS in the background with stdout/stderr in $T/NAME.out and
# $T/NAME.err (stdin /dev/null by default; fds 3 and 6-9 closed).  INT, QUIT, PIPE and TERM are
# reset to their default action (a non-interactive shell would have the
# invocation ignore SIGINT).  Its pid is ${PIDS[NAME]}.  -w "CMD ARG..."
# runs it through CMD (words split at spaces; fleet_helpers.bash's `on`).
spawn() {
	local in=/dev/null cwd=. envs=() via=()
	while :; do
		case $1 in
		-i) in=$2; shift 2 ;;
		-C) cwd=$2; shift 2 ;;
		-e) envs+=("$2"); shift 2 ;;
		-w) read -r -a via <<<"$2"; shift 2 ;;
		*) break ;;
		esac
	done
	local name=$1
	shift
	(cd "$cwd" && exec "${via[@]}" env --default-signal=INT,QUIT,PIPE,TERM "${envs[@]}" \
		"$SFEXEC" "$@") <"$in" >"$T/$name.out" 2>"$T/$name.err" \
		3>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS[$name]=$!
	echo $! >>"$T/.pids"
}

# reap NAME [SECONDS]: wait (bounded, default 20 s) for invocation NAME to
# exit and store its exit status in ${RC[NAME]}.
reap() {
	local name=$1 secs=${2:-20} pid=${PIDS[$1]} rc=0
	wait_for "$secs" not_alive "$pid" || {
		fail "invocation $name (pid $pid) still running after $secs s" \
			"stdout: $(head -c 300 "$T/$name.out" | od -c | head -n 5)" \
			"stderr: $(head -c 300 "$T/$name.err")"
		return 1
	}
	wait "$pid" 2>/dev/null || rc=$?
	RC[$name]=$rc
}

not_alive() { ! alive "$1"; }

# proc_start PID: the process's start time (field 22 of /proc/PID/stat).
# With PID, it names one process for good: bash reaps a background job that
# exits, and with pid_max 32768 the tests cycle through pids fast enough
# that a stale PID may already be somebody else's.
proc_start() {
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 1
	line=${line##*) }
	# shellcheck disable=SC2086
	set -- $line
	echo "${20}"
}

# sfrun ARGS...: run "$SFEXEC" ARGS in the foreground (stdin /dev/null
# unless SFRUN_IN is set, killed after 30 s); sets $status, $output (stdout)
# and $stderr like `run --separate-stderr`, and keeps the exact bytes in
# $T/run.out and $T/run.err.
sfrun() {
	status=0
	timeout -s KILL "${SFRUN_TIMEOUT:-30}" "$SFEXEC" "$@" \
		<"${SFRUN_IN:-/dev/null}" >"$T/run.out" 2>"$T/run.err" 3>&- || status=$?
	output=$(cat "$T/run.out")
	stderr=$(cat "$T/run.err")
}

# assert_equal EXPECTED ACTUAL [WHAT]
assert_equal() {
	[[ $1 == "$2" ]] || fail "${3:-value} differs" "expected: $(printf %q "$1")" \
		"     got: $(printf %q "$2")"
}

# assert_status N: $status (from run or sfrun) must be N.
assert_status() {
	[[ $status == "$1" ]] || fail "exit status: expected $1, got $status" \
		"stdout: ${output-}" "stderr: ${stderr-}"
}

# assert_rc NAME N: background invocation NAME exited with N.
assert_rc() {
	[[ ${RC[$1]-} == "$2" ]] || fail "$1: exit status: expected $2, got ${RC[$1]-none}" \
		"stderr of $1: $(head -c 500 "$T/$1.err")"
}

# assert_file_is FILE BYTES: FILE contains exactly BYTES (printf %b is NOT
# applied; pass the real bytes, e.g. with $'...').
assert_file_is() {
	local f=$1
	printf '%s' "$2" >"$T/.expected"
	cmp -s "$T/.expected" "$f" || fail "$f: content differs" \
		"expected: $(od -c "$T/.expected" | head -n 8)" \
		"     got: $(od -c "$f" | head -n 8)"
}

# assert_same_bytes EXPECTED_FILE FILE
assert_same_bytes() {
	cmp -s "$1" "$2" || fail "$2 differs from $1" \
		"$(cmp "$1" "$2" 2>&1)" \
		"sizes: $(stat -c %s "$1") vs $(stat -c %s "$2")" \
		"got (start): $(od -c "$2" | head -n 6)"
}

# assert_empty FILE
assert_empty() {
	[[ ! -s $1 ]] || fail "$1 should be empty but holds:" "$(head -c 500 "$1")"
}

# assert_match REGEX STRING [WHAT]
assert_match() {
	[[ $2 =~ $1 ]] || fail "${3:-value} does not match /$1/" "got: $(printf %q "$2")"
}

# the end of every usage error
USAGE_TAIL="; try 'sfexec --help'"

# usage_error EXPECTED-MESSAGE ARGS...: sfexec ARGS fails with exactly one
# line EXPECTED-MESSAGE on stderr, nothing on stdout, 125, and runs nothing.
usage_error() {
	local msg=$1
	shift
	sfrun "$@"
	assert_status 125
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" "$msg"
	[[ ! -e $T/ran ]] || fail "the command ran"
}

# assert_one_line_err FILE EXACT: FILE is exactly "EXACT\n".
assert_err_line() {
	assert_file_is "$1" "$2"$'\n'
}

# vline NAME: first line of $T/NAME.err.
vline() { head -n1 "$T/$1.err"; }

# attached NAME: true once NAME printed its -v line.
attached() {
	local l
	l=$(head -n1 "$T/$1.err" 2>/dev/null) || return 1
	[[ $l =~ $VLINE_STARTED || $l =~ $VLINE_JOINED ]]
}

# all_attached NAME...: every NAME printed its -v line.
all_attached() {
	local n
	for n; do attached "$n" || return 1; done
}

# wait_attached SECONDS NAME...
wait_attached() {
	local secs=$1
	shift
	wait_for "$secs" all_attached "$@"
}

# runner_of NAME: the runner pid from NAME's "started flight" line.
runner_of() {
	sed -nE '1s/^sfexec: started flight \(runner pid ([0-9]+)\)$/\1/p' "$T/$1.err"
}

# starter_of NAME: the starter pid from NAME's "joined flight" line.
starter_of() {
	sed -nE '1s/^sfexec: joined flight \(started by pid ([0-9]+)\)$/\1/p' "$T/$1.err"
}

# assert_started NAME / assert_joined NAME [STARTER_NAME]
assert_started() {
	assert_match "$VLINE_STARTED" "$(vline "$1")" "-v line of $1"
}
assert_joined() {
	assert_match "$VLINE_JOINED" "$(vline "$1")" "-v line of $1"
	if [[ -n ${2-} ]]; then
		assert_equal "${PIDS[$2]}" "$(starter_of "$1")" "starter pid reported by $1"
	fi
}

# assert_err_after_vline NAME BYTES: $T/NAME.err is the -v line followed by
# exactly BYTES.
assert_err_after_vline() {
	attached "$1" || fail "$1: first stderr line is not a -v line: $(vline "$1")"
	local rest=$T/.rest.${1//\//_}
	tail -n +2 "$T/$1.err" >"$rest"
	assert_file_is "$rest" "$2"
}

# has_bytes FILE N: FILE holds at least N bytes.
has_bytes() { [[ -f $1 && $(stat -c %s "$1") -ge $2 ]]; }

# file_has FILE FIXED-STRING
file_has() { [[ -f $1 ]] && grep -qaF -- "$2" "$1"; }

# lines_in FILE: number of lines (0 if missing).
lines_in() {
	if [[ -f $1 ]]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# count_is FILE N: FILE has exactly N lines (used for execution counters).
count_is() { [[ $(lines_in "$1") == "$2" ]]; }

# assert_count FILE N: the command ran exactly N times.
assert_count() {
	local n
	n=$(lines_in "$1")
	[[ $n == "$2" ]] || fail "command executions: expected $2, got $n"
}

# keyhash KEY: H for --key KEY (first 32 hex digits of SHA-256 of 'k'KEY).
keyhash() { printf 'k%s' "$1" | sha256sum | cut -c1-32; }

# pg_gone PGID: no live process is left in process group PGID (zombies
# waiting for init to reap them do not count).
pg_gone() {
	! ps -e -o pgid=,stat= | awk -v p="$1" '$1 == p && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

# file_mode PATH: octal mode, 4 digits.
file_mode() { stat -c %04a "$1"; }

# ---- added for tests/faults.bats and tests/long/ (issue 4) -------------------

# sock_of KEY / lock_of KEY: the key's socket and lock in $SFEXEC_DIR.
sock_of() { echo "$SFEXEC_DIR/$(keyhash "$1").sock"; }
lock_of() { echo "$SFEXEC_DIR/$(keyhash "$1").lock"; }

# vmrss_kb PID: resident memory of PID in KiB (VmRSS of /proc/PID/status).
vmrss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }

# fd_count PID: number of descriptors PID has open.
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# fds_at_most PID N: PID has at most N descriptors open (a wait_for
# condition: counted again on every poll).
fds_at_most() { (($(fd_count "$1") <= $2)); }

# listen_queue SOCKET: connections waiting in the listen queue of the Unix
# socket bound at SOCKET, not yet accepted (ss's Recv-Q); 0 if none listens.
listen_queue() {
	ss -xlH 2>/dev/null | awk -v p="$1" '$5 == p { n = $3 } END { print n + 0 }'
}

# queue_is SOCKET N: exactly N connections wait in SOCKET's listen queue (a
# wait_for condition: ss is asked again on every poll).
queue_is() { (($(listen_queue "$1") == $2)); }

# kb_used DIR / kb_used_is DIR N: kB in use on the file system holding DIR;
# kb_used_is is a wait_for condition (df is asked again on every poll).
kb_used() { df --output=used -k "$1" | tail -n1 | tr -d ' '; }
kb_used_is() {
	local kb
	kb=$(kb_used "$1") && [[ $kb =~ ^[0-9]+$ ]] && ((kb == $2))
}

# spawn_limited "LIMITS" NAME ARGS...: like spawn, but the invocation runs
# under `ulimit LIMITS` (e.g. "-n 20") with only descriptors 0, 1 and 2 open;
# the test's shell keeps its limits.
spawn_limited() {
	local lim=$1 name=$2
	shift 2
	env --default-signal=INT,QUIT,PIPE,TERM "$TOOLS/limit" "$lim" "$SFEXEC" "$@" \
		</dev/null >"$T/$name.out" 2>"$T/$name.err" 3>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS[$name]=$!
	echo $! >>"$T/.pids"
}

# spawn_tool NAME COMMAND...: run a helper (not sfexec) in the background,
# stdout and stderr in $T/NAME.out and $T/NAME.err; killed in teardown.
spawn_tool() {
	local name=$1
	shift
	"$@" </dev/null >"$T/$name.out" 2>"$T/$name.err" 3>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS[$name]=$!
	echo $! >>"$T/.pids"
}

# assert_prefix_of FULL FILE: FILE is the first $(size of FILE) bytes of FULL.
assert_prefix_of() {
	local n
	n=$(stat -c %s "$2")
	cmp -s -n "$n" "$1" "$2" && (($(stat -c %s "$1") >= n)) || fail \
		"$2 ($n bytes) is not a prefix of $1" "$(cmp -n "$n" "$1" "$2" 2>&1)"
}

# fake_runner KEY: in a new $SFEXEC_DIR, a flight owner of KEY run by uid
# 65534 (tests/tools/fake-runner: it holds the key's locks, its socket is
# that uid's); it logs to $T/fake.log and is killed in teardown.  Root only.
fake_runner() {
	local h
	h=$(keyhash "$1")
	mkdir -m 0700 "$SFEXEC_DIR"
	"$PY" -I "$TOOLS/fake-runner" "$SFEXEC_DIR/$h.lock" "$SFEXEC_DIR/$h.sock" 65534 "$T/fake.log" \
		</dev/null >/dev/null 2>"$T/fake.err" 3>&- &
	echo $! >>"$T/.pids"
	wait_for 10 file_has "$T/fake.log" listening
}
