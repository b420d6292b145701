#!/usr/bin/env bats
# Runtime directory, file names, descriptors, peer credentials (contract:
# Files; behaviour 8).

bats_require_minimum_version 1.5.0
load helpers

teardown() {
	common_teardown
	[[ -n ${PEERDIR-} && -d $PEERDIR ]] && rm -rf "$PEERDIR"
	return 0
}

# refused ARGS...: sfexec refuses with 125, one stderr line, nothing run.
refused() {
	sfrun "$@"
	assert_status 125
	assert_empty "$T/run.out"
	assert_equal 1 "$(lines_in "$T/run.err")" "number of stderr lines"
	assert_match '^sfexec: ' "$stderr" "stderr"
	[[ ! -e $T/ran ]] || fail "the command ran"
}

# ---- the runtime directory --------------------------------------------------

# flight_in DIR KEY [OPTION...]: a flight of KEY (with OPTIONs) whose
# socket and lock appear in DIR while it runs, and nothing of which is left
# there after it.
flight_in() {
	local d=$1 key=$2 h
	shift 2
	h=$(keyhash "$key")
	spawn A "$@" -k "$key" -- "$FC" out 'ok\n' gate "$T/gate.$key"
	wait_for 10 test -S "$d/$h.sock"
	[[ -f $d/$h.lock && ! -L $d/$h.lock ]] || fail "H.lock is not a regular file in $d"
	assert_empty "$d/$h.lock"
	touch "$T/gate.$key"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'ok\n'
	[[ ! -e $d/$h.lock && ! -e $d/$h.sock ]] || fail "left in $d: $(ls -A "$d")"
}

@test "runtime dir is created with mode 0700 (even with umask 000) and is empty after" {
	umask 000
	flight_in "$SFEXEC_DIR" created
	umask 022
	assert_equal 0700 "$(file_mode "$SFEXEC_DIR")" "mode of the runtime dir"
	assert_equal "$EUID" "$(stat -c %u "$SFEXEC_DIR")" "owner of the runtime dir"
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "runtime dir contents"
}

@test "an existing 0700 runtime dir is used as is" {
	mkdir -m 0700 "$SFEXEC_DIR"
	flight_in "$SFEXEC_DIR" existing
}

@test "-d wins over SFEXEC_DIR" {
	flight_in "$T/opt" dd -d "$T/opt"
	[[ ! -e $SFEXEC_DIR ]] || fail "SFEXEC_DIR was created although -d was given"
	assert_equal 0700 "$(file_mode "$T/opt")" "mode of -d DIR"
}

@test "default runtime dir: \$XDG_RUNTIME_DIR/sfexec" {
	unset SFEXEC_DIR
	mkdir -m 0700 "$T/xdg"
	XDG_RUNTIME_DIR=$T/xdg flight_in "$T/xdg/sfexec" xdg
	assert_equal 0700 "$(file_mode "$T/xdg/sfexec")" "mode of \$XDG_RUNTIME_DIR/sfexec"
}

@test "default runtime dir: /tmp/sfexec-\$EUID when XDG_RUNTIME_DIR is empty or unset" {
	unset SFEXEC_DIR
	local d=/tmp/sfexec-$EUID key existed=0
	[[ -d $d ]] && existed=1
	key="bats-default-dir-$$-$RANDOM"
	XDG_RUNTIME_DIR= flight_in "$d" "$key"
	unset XDG_RUNTIME_DIR
	flight_in "$d" "$key-unset"
	((existed)) || rmdir "$d" 2>/dev/null || true
}

@test "refused: runtime dir's parent does not exist" {
	refused -d "$T/no/such/rt" -k K -- touch "$T/ran"
	[[ $stderr == *"$T/no/such/rt"* ]] || fail "message does not name the path: $stderr"
}

@test "refused: runtime dir mode 0777" {
	mkdir "$SFEXEC_DIR"
	chmod 0777 "$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	assert_err_line "$T/run.err" "sfexec: $SFEXEC_DIR: directory mode 0777 allows group or other access"
	assert_equal '' "$(ls -A "$SFEXEC_DIR")" "refused dir contents"
}

@test "refused: runtime dir mode 0750 and 0701 (any group/other bit)" {
	mkdir "$SFEXEC_DIR"
	chmod 0750 "$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	assert_err_line "$T/run.err" "sfexec: $SFEXEC_DIR: directory mode 0750 allows group or other access"
	chmod 0701 "$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	assert_err_line "$T/run.err" "sfexec: $SFEXEC_DIR: directory mode 0701 allows group or other access"
}

@test "refused: runtime dir owned by another user (chown 65534)" {
	((EUID == 0)) || skip "needs root"
	mkdir -m 0700 "$SFEXEC_DIR"
	chown 65534 "$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	assert_err_line "$T/run.err" "sfexec: $SFEXEC_DIR: directory is owned by uid 65534"
}

@test "refused: runtime dir is a symlink to a good directory" {
	mkdir -m 0700 "$T/real"
	ln -s "$T/real" "$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	[[ $stderr == *"$SFEXEC_DIR"* ]] || fail "message does not name the path: $stderr"
	assert_equal '' "$(ls -A "$T/real")" "symlink target contents"
}

@test "refused: runtime dir is not a directory" {
	: >"$SFEXEC_DIR"
	refused -k K -- touch "$T/ran"
	assert_err_line "$T/run.err" "sfexec: $SFEXEC_DIR: Not a directory"
}

@test "refused: H.lock is a symlink (O_NOFOLLOW); its target is not touched" {
	mkdir -m 0700 "$SFEXEC_DIR"
	ln -s "$T/victim" "$SFEXEC_DIR/$(keyhash sl).lock"
	SFRUN_TIMEOUT=10 sfrun -k sl -- touch "$T/ran"
	assert_status 125
	assert_equal 1 "$(lines_in "$T/run.err")" "number of stderr lines"
	[[ ! -e $T/ran ]] || fail "the command ran"
	[[ ! -e $T/victim ]] || fail "the symlink was followed"
}

@test "a socket path that does not fit sun_path is reached through the directory, never truncated" {
	local d
	d=$T/$(printf 'd%.0s' {1..100})
	flight_in "$d" K -d "$d"
	[[ -z $(find "$T" -maxdepth 1 -type s) ]] || fail "a socket was made elsewhere: $(find "$T" -type s)"
}

# ---- names --------------------------------------------------------------------

@test "names are hashed: a key with '/' and '..' makes only H.lock and H.sock, gone after" {
	local key='../../EVILKEY/../x/y' h
	h=$(keyhash "$key")
	spawn A -v -k "$key" -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_for 10 file_has "$T/A.out" part1
	assert_equal "$h.lock $h.sock" "$(ls -A "$SFEXEC_DIR" | sort | tr '\n' ' ' | sed 's/ $//')" \
		"runtime dir contents during the flight"
	[[ -S $SFEXEC_DIR/$h.sock ]] || fail "$h.sock is not a socket"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "runtime dir contents after the flight"
	[[ -z $(find "$T" /tmp -maxdepth 4 -name '*EVILKEY*' 2>/dev/null) ]] ||
		fail "a file named after the key exists"
}

@test "names are hashed: newline, spaces and non-UTF-8 bytes in the key" {
	flight_in "$SFEXEC_DIR" $'a b\nc\xff\x01'
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "runtime dir contents"
}

@test "derived keys are hashed too, in a namespace apart from --key" {
	spawn K -k true -- "$FC" gate "$T/gate"
	spawn D -- "$FC" gate "$T/gate"
	local names n
	wait_for 10 eval '[[ $(ls -A "$SFEXEC_DIR" 2>/dev/null | grep -c "\.sock$") == 2 ]]'
	names=$(ls -A "$SFEXEC_DIR" | sort)
	[[ $names == *"$(keyhash true).sock"* ]] || fail "missing --key socket: $names"
	for n in $names; do
		assert_match '^[0-9a-f]{32}\.(lock|sock)$' "$n" "file name"
	done
	assert_equal 4 "$(wc -l <<<"$names")" "names in the runtime dir"
	touch "$T/gate"
	reap K; reap D
	assert_rc K 0
	assert_rc D 0
}

# no_open_files_in DIR: no process holds a file in DIR open.
no_open_files_in() {
	[[ -z $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1/*" 2>/dev/null) ]]
}

@test "output is spooled to unnamed files in DIR, released when the last reader exits" {
	spawn A -v -k spool -- "$FC" out 'to stdout\n' err 'to stderr\n' gate "$T/gate"
	wait_attached 10 A
	wait_for 10 file_has "$T/A.out" 'to stdout'
	wait_for 10 file_has "$T/A.err" 'to stderr'
	local r spools
	r=$(runner_of A)
	spools=$(find "/proc/$r/fd" -maxdepth 1 -lname "$SFEXEC_DIR/*(deleted)" -printf '%l\n' 2>/dev/null | sort -u)
	[[ -n $spools ]] || fail "the runner has no unnamed file open in $SFEXEC_DIR:" \
		"$(ls -l "/proc/$r/fd" 2>&1)"
	assert_equal "$(keyhash spool).lock $(keyhash spool).sock" \
		"$(ls -A "$SFEXEC_DIR" | sort | tr '\n' ' ' | sed 's/ $//')" "names in the runtime dir"
	touch "$T/gate"
	reap A
	assert_rc A 0
	wait_for 5 no_open_files_in "$SFEXEC_DIR"
}

# ---- descriptors ------------------------------------------------------------------

@test "the command inherits only fds 0, 1, 2 (with joiners attached)" {
	spawn A -v -k fd -- "$FC" gate "$T/gate" exec "$PY" -I "$TOOLS/fds"
	wait_attached 10 A
	spawn B -v -k fd -- true
	spawn C -v -k fd -- true
	wait_attached 10 B C
	touch "$T/gate"
	reap A; reap B; reap C
	assert_rc A 0
	local n
	for n in A B C; do
		assert_file_is "$T/$n.out" $'0\n1\n2\n'
	done
}

@test "extra fds open in the starter do not reach the command" {
	: >"$T/f7"
	local rc=0
	timeout -s KILL 20 "$SFEXEC" -k fd2 -- "$PY" -I "$TOOLS/fds" \
		</dev/null >"$T/out" 2>"$T/err" 3>&- 7<"$T/f7" 8>"$T/f8" 9<>"$T/f7" || rc=$?
	assert_equal 0 "$rc" "exit status"
	assert_file_is "$T/out" $'0\n1\n2\n'
	assert_empty "$T/err"
}

# ---- peer credentials ---------------------------------------------------------------

@test "SO_PEERCRED: a connection from another uid is dropped; the flight is unharmed" {
	((EUID == 0)) || skip "needs root"
	# a runtime dir whose path uid 65534 can traverse (bats' tmp dir is 0700)
	PEERDIR=$(mktemp -d /tmp/sfexec-bats-peer.XXXXXX)
	export SFEXEC_DIR=$PEERDIR/rt
	local h sock mode
	h=$(keyhash peer)
	sock=$SFEXEC_DIR/$h.sock
	spawn A -v -k peer -- "$FC" count "$T/count" pgid "$T/cmd.pgid" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	spawn B -v -k peer -- true
	wait_attached 10 B
	wait_for 10 file_has "$T/A.out" part1
	wait_for 10 file_has "$T/B.out" part1
	[[ -S $sock ]] || fail "no socket at $sock"
	mode=$(file_mode "$sock")
	chmod 0711 "$PEERDIR" "$SFEXEC_DIR"
	chmod 0777 "$sock"
	# positive control: the same HELLO from our own uid gets an answer
	run "$PY" -I "$TOOLS/peer" "$sock" hello:peer 5
	assert_equal "reply" "${output% *}" "what a same-uid peer sent with a valid HELLO saw"
	# another uid: a valid HELLO and garbage are both dropped without a byte
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -I "$TOOLS/peer" "$sock" hello:peer 5
	local foreign_hello=$output
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" -I "$TOOLS/peer" "$sock" garbage 5
	local foreign_garbage=$output
	chmod 0700 "$PEERDIR" "$SFEXEC_DIR"
	chmod "$mode" "$sock"
	assert_equal "closed 0" "$foreign_hello" "what uid 65534 sending a valid HELLO saw"
	assert_equal "closed 0" "$foreign_garbage" "what uid 65534 sending garbage saw"
	touch "$T/gate"
	reap A; reap B
	local n
	for n in A B; do
		assert_rc "$n" 0
		assert_file_is "$T/$n.out" $'part1\npart2\n'
		assert_err_after_vline "$n" ''
	done
	assert_count "$T/count" 1
}

@test "the client refuses a flight owner of another uid (socket owned by uid N)" {
	((EUID == 0)) || skip "needs root"
	fake_runner fake
	SFRUN_TIMEOUT=15 sfrun -k fake -- "$FC" count "$T/count"
	assert_status 125
	assert_empty "$T/run.out"
	assert_equal 1 "$(lines_in "$T/run.err")" "number of stderr lines"
	assert_match '^sfexec: .*: socket owned by uid 65534$' "$stderr" "stderr"
	[[ ! -e $T/count ]] || fail "the command ran"
}
