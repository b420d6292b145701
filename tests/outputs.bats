#!/usr/bin/env bats
# Every invocation's output arrives whole, whatever its stdout is (issue 8,
# guarantee 3): one file shared with `>` or `>>`, a pipe, a FIFO, a socket,
# a terminal, /dev/null.  N invocations join one flight (the command waits
# at a gate until all of them have attached) and N x size bytes arrive;
# where the command writes whole lines, every line arrives whole, N times.

bats_require_minimum_version 1.5.0
load helpers

N=8
BIG=$((4 * 1024 * 1024))
# Lines written one write(2) each, LINES bytes in all, for make_lines.
LINES=$((768 * 1024))

# herd KEY CMD...: N invocations `sfexec -v -k KEY -- CMD...` at once, all
# with this function's stdout (so one open file description), stderr in
# $T/iI.err; waits for them and writes each exit status to $T/iI.rc.  Meant
# to run in the background with its stdout redirected.
herd() {
	local key=$1 i rc pids=()
	shift
	for ((i = 1; i <= N; i++)); do
		env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k "$key" -- "$@" \
			</dev/null 2>"$T/i$i.err" 3>&- 6>&- 7>&- 8>&- 9>&- &
		pids+=($!)
		echo $! >>"$T/.pids"
	done
	for ((i = 1; i <= N; i++)); do
		rc=0
		wait "${pids[i - 1]}" || rc=$?
		echo "$rc" >"$T/i$i.rc"
	done
}

# herd_names: i1 ... iN, the names wait_attached knows them by.
herd_names() {
	local i
	for ((i = 1; i <= N; i++)); do printf 'i%d\n' "$i"; done
}

# open_gate_and_reap NAME: once all N have attached, let the command go on
# and wait for NAME (the background job holding the herd) to end.
open_gate_and_reap() {
	# shellcheck disable=SC2046
	wait_attached 30 $(herd_names)
	touch "$T/gate"
	reap "$1" 120
	assert_rc "$1" 0
}

# assert_one_flight: the command ran once; one invocation started the
# flight, the others joined it; each exited 0 and wrote nothing to stderr
# but its -v line.
assert_one_flight() {
	local i started=0 rc
	assert_count "$T/count" 1
	for ((i = 1; i <= N; i++)); do
		read -r rc <"$T/i$i.rc" || fail "no exit status for i$i"
		[[ $rc == 0 ]] || fail "i$i: exit status $rc" "stderr: $(head -c 500 "$T/i$i.err")"
		assert_err_after_vline "i$i" ''
		[[ $(vline "i$i") =~ $VLINE_STARTED ]] && started=$((started + 1))
	done
	assert_equal 1 "$started" "invocations that started the flight"
}

# assert_repeated FILE LINE COUNT: FILE is exactly COUNT times "LINE\n".
assert_repeated() {
	local i
	for ((i = 0; i < $3; i++)); do printf '%s\n' "$2"; done >"$T/want"
	assert_same_bytes "$T/want" "$1"
}

# assert_size FILE BYTES
assert_size() {
	local n
	n=$(stat -c %s "$1")
	[[ $n == "$2" ]] || fail "$1: $n bytes, expected $2 ($(($2 - n)) missing)"
}

# make_lines FILE: about LINES bytes of numbered lines of 9 to 301 bytes,
# every one different.
make_lines() {
	awk -v big="$LINES" 'BEGIN {
		pad = sprintf("%300s", ""); gsub(/ /, "x", pad)
		for (i = 0; n < big; i++) {
			l = sprintf("%07d %s", i, substr(pad, 1, (i * 7919) % 293))
			print l
			n += length(l) + 1
		}
	}' >"$1"
}

# A command that writes a file's lines one write(2) each, as a line-buffered
# program does: lines can arrive whole only as far as the command's own
# writes kept them whole (`cat` writes 128 KiB blocks that cut lines).
LINE_BY_LINE=(exec awk '{ print; fflush() }')

# assert_lines_whole FILE DATA [HEAD]: FILE is HEAD (a file, may be
# missing) followed by N copies of DATA's lines, each line whole, in any
# interleaving of the copies: the multisets of lines must be equal.
assert_lines_whole() {
	local i
	{
		[[ -n ${3-} ]] && cat "$3"
		for ((i = 1; i <= N; i++)); do cat "$2"; done
	} | LC_ALL=C sort >"$T/want.sorted"
	LC_ALL=C sort "$1" >"$T/got.sorted"
	cmp -s "$T/want.sorted" "$T/got.sorted" || fail "$1: lines are cut or lost" \
		"$(diff "$T/want.sorted" "$T/got.sorted" | head -n 6)"
}

# A collector for outputs bash cannot open: `$PY -c "$UNDER" KIND FILE
# CMD...` runs CMD with its stdout a socket (KIND socket: one end of a Unix
# stream socketpair) or a terminal (KIND pty: a pseudo-terminal's slave, in
# raw mode so bytes pass as they are), copies what arrives at the other end
# to FILE until every writer is gone, and exits with CMD's status.
UNDER='
import errno, os, pty, socket, sys, tty
kind, path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "pty":
    rd, wr = pty.openpty()
    tty.setraw(wr)
else:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    rd, wr = a.detach(), b.detach()
pid = os.fork()
if pid == 0:
    os.dup2(wr, 1)
    os.execvp(argv[0], argv)
os.close(wr)
with open(path, "wb") as out:
    while True:
        try:
            d = os.read(rd, 1 << 16)
        except OSError as e:
            if e.errno != errno.EIO:    # EIO: the terminal has no writer left
                raise
            d = b""
        if not d:
            break
        out.write(d)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
'

# under KIND FILE KEY CMD...: herd KEY CMD... with its stdout a KIND (see
# UNDER), what arrives copied to FILE; in the background as job "under".
under() {
	local kind=$1 file=$2
	shift 2
	export T N SFEXEC
	"$PY" -c "$UNDER" "$kind" "$file" bash -c "$(declare -f herd); herd \"\$@\"" herd "$@" \
		</dev/null 3>&- &
	PIDS[under]=$!
	echo $! >>"$T/.pids"
}

@test "one file opened with '>': $N invocations of a one-line command give $N lines" {
	herd short "$FC" count "$T/count" gate "$T/gate" out 'line\n' >"$T/log" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
	assert_repeated "$T/log" line "$N"
}

@test "one file opened with '>': $N x 4 MiB arrive" {
	head -c "$BIG" /dev/urandom >"$T/data"
	herd big "$FC" count "$T/count" gate "$T/gate" cat "$T/data" >"$T/log" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
	assert_size "$T/log" $((N * BIG))
}

@test "one file opened with '>': lines written one by one arrive whole" {
	make_lines "$T/data"
	herd lines "$FC" count "$T/count" gate "$T/gate" "${LINE_BY_LINE[@]}" "$T/data" \
		>"$T/log" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
	assert_size "$T/log" $((N * $(stat -c %s "$T/data")))
	assert_lines_whole "$T/log" "$T/data"
}

# wrote_at_least PID BYTES: process PID has written at least BYTES.
wrote_at_least() {
	local w
	w=$(awk '$1 == "wchar:" { print $2 }' "/proc/$1/io") || return 1
	((w >= $2))
}

# The runner takes at most a pipe's worth (1 MiB) from the command in one
# wake-up.  When it stops there with more waiting, that cut may fall in the
# middle of a line; invocations sharing a file then write between the two
# halves, unless the runner tells them only up to the last newline.  The
# runner is stopped while the command fills the pipe with writes of 40
# whole lines of 100 bytes (one page of the pipe each, 1,024,000 bytes in
# all), so that once it goes on it finds nearly a pipe's worth and the
# command writes the rest of it meanwhile: its 1 MiB ends in a line.
@test "one file opened with '>': lines stay whole when the runner finds more than it takes at once" {
	local i cmd runner
	awk 'BEGIN { for (i = 0; i < 40000; i++) printf "%07d %091d\n", i, 0 }' >"$T/data"
	herd cut "$FC" count "$T/count" pid "$T/cmd" gate "$T/gate" exec "$PY" -c '
import os, sys
d = open(sys.argv[1], "rb").read()
for i in range(0, len(d), 4000):
    os.write(1, d[i:i + 4000])
' "$T/data" >"$T/log" 3>&- &
	PIDS[herd]=$!
	# shellcheck disable=SC2046
	wait_attached 30 $(herd_names)
	for ((i = 1; i <= N; i++)); do
		[[ $(vline "i$i") =~ $VLINE_STARTED ]] && runner=${BASH_REMATCH[1]}
	done
	[[ -n ${runner-} ]] || fail "no invocation started the flight"
	read -r cmd _ <"$T/cmd"
	kill -STOP "$runner"
	touch "$T/gate"
	wait_for 30 wrote_at_least "$cmd" 1000000
	kill -CONT "$runner"
	reap herd 120
	assert_rc herd 0
	assert_one_flight
	assert_size "$T/log" $((N * 4000000))
	assert_lines_whole "$T/log" "$T/data"
}

@test "one file opened with '>>': $N x 4 MiB arrive after what it held" {
	head -c "$BIG" /dev/urandom >"$T/data"
	printf 'already there\n' >"$T/log"
	herd big "$FC" count "$T/count" gate "$T/gate" cat "$T/data" >>"$T/log" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
	assert_size "$T/log" $((14 + N * BIG))
	assert_equal 'already there' "$(head -n1 "$T/log")" "first line"
}

@test "one file opened with '>>': lines written one by one arrive whole" {
	make_lines "$T/data"
	printf 'already there\n' >"$T/head"
	cp "$T/head" "$T/log"
	herd lines "$FC" count "$T/count" gate "$T/gate" "${LINE_BY_LINE[@]}" "$T/data" \
		>>"$T/log" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
	assert_size "$T/log" $((14 + N * $(stat -c %s "$T/data")))
	assert_equal 'already there' "$(head -n1 "$T/log")" "first line"
	assert_lines_whole "$T/log" "$T/data" "$T/head"
}

@test "xargs -P20 with one '>' file: twenty invocations give twenty lines" {
	local i names=() started=0
	# each invocation's stderr to a file of its own: sfexec's -v line is not
	# what this test is about
	# shellcheck disable=SC2016
	seq 20 | xargs -P20 -I{} bash -c 'exec "$@" 2>"$T/i$0.err"' {} \
		env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k api -- \
		"$FC" count "$T/count" gate "$T/gate" out 'answer\n' >"$T/log" 3>&- &
	PIDS[xargs]=$!
	echo $! >>"$T/.pids"
	for i in $(seq 20); do names+=("i$i"); done
	wait_attached 30 "${names[@]}"
	touch "$T/gate"
	reap xargs 60
	assert_rc xargs 0
	assert_count "$T/count" 1
	for i in "${names[@]}"; do
		assert_err_after_vline "$i" ''
		[[ $(vline "$i") =~ $VLINE_STARTED ]] && started=$((started + 1))
	done
	assert_equal 1 "$started" "invocations that started the flight"
	assert_repeated "$T/log" answer 20
}

# sfexec's own lines go out in one write each: on a stderr shared by the
# herd, none of them is cut by another's, nor by the command's.
@test "xargs -P20 with one '2>>' file: sfexec's lines and the command's arrive whole" {
	local n
	seq 20 | xargs -P20 -I{} env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" \
		-v -k shared-err -- "$FC" count "$T/count" gate "$T/gate" err 'oops\n' \
		>/dev/null 2>>"$T/err" 3>&- &
	PIDS[xargs]=$!
	echo $! >>"$T/.pids"
	wait_for 30 count_is "$T/err" 20
	touch "$T/gate"
	reap xargs 60
	assert_rc xargs 0
	assert_count "$T/count" 1
	n=$(grep -cxE 'oops|sfexec: (started flight \(runner pid|joined flight \(started by pid) [0-9]+\)' "$T/err")
	[[ $n == 40 ]] || fail "$n whole lines of 40" "$(head -c 600 "$T/err")"
	assert_equal 20 "$(grep -cx oops "$T/err")" "the command's lines"
}

# What makes the test above pass every time, seen whatever the timing.
@test "sfexec writes each of its own lines to stderr in one write(2)" {
	# (LeakSanitizer cannot run under ptrace: off for a sanitizer build)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -qq -e trace=write -e signal=none -s 300 -o "$T/trace" \
		"$SFEXEC" -v -k one-write -- true 3>&- 2>"$T/err"
	grep -qE '^write\(2, "sfexec: started flight \(runner pid [0-9]+\)\\n", [0-9]+\) += [0-9]+$' \
		"$T/trace" || fail "the -v line is not one write" "$(cat "$T/trace")"
	assert_equal 1 "$(grep -c '^write(2,' "$T/trace")" "writes to stderr"
}

@test "a pipe ('| wc -c'): $N x 4 MiB arrive" {
	head -c "$BIG" /dev/urandom >"$T/data"
	{ herd big "$FC" count "$T/count" gate "$T/gate" cat "$T/data" | wc -c >"$T/wc"; } 3>&- &
	PIDS[pipe]=$!
	open_gate_and_reap pipe
	assert_one_flight
	assert_equal $((N * BIG)) "$(tr -d ' ' <"$T/wc")" "bytes through the pipe"
}

@test "a pipe: $N invocations of a one-line command give $N whole lines" {
	{ herd short "$FC" count "$T/count" gate "$T/gate" out 'a line of output\n' |
		cat >"$T/log"; } 3>&- &
	PIDS[pipe]=$!
	open_gate_and_reap pipe
	assert_one_flight
	assert_repeated "$T/log" 'a line of output' "$N"
}

@test "a FIFO: $N x 4 MiB arrive" {
	head -c "$BIG" /dev/urandom >"$T/data"
	mkfifo "$T/fifo"
	spawn_tool reader cat "$T/fifo"
	herd big "$FC" count "$T/count" gate "$T/gate" cat "$T/data" >"$T/fifo" 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	reap reader 60
	assert_rc reader 0
	assert_one_flight
	assert_size "$T/reader.out" $((N * BIG))
}

@test "a socket: $N x 4 MiB arrive" {
	head -c "$BIG" /dev/urandom >"$T/data"
	under socket "$T/sock.out" big "$FC" count "$T/count" gate "$T/gate" cat "$T/data"
	open_gate_and_reap under
	assert_one_flight
	assert_size "$T/sock.out" $((N * BIG))
}

@test "a socket: $N invocations of a one-line command give $N whole lines" {
	under socket "$T/sock.out" short "$FC" count "$T/count" gate "$T/gate" out 'a line of output\n'
	open_gate_and_reap under
	assert_one_flight
	assert_repeated "$T/sock.out" 'a line of output' "$N"
}

@test "a terminal: $N x 4 MiB arrive" {
	head -c "$BIG" /dev/urandom >"$T/data"
	under pty "$T/tty.out" big "$FC" count "$T/count" gate "$T/gate" cat "$T/data"
	open_gate_and_reap under
	assert_one_flight
	assert_size "$T/tty.out" $((N * BIG))
}

@test "a terminal: lines written one by one arrive whole" {
	make_lines "$T/data"
	under pty "$T/tty.out" lines "$FC" count "$T/count" gate "$T/gate" \
		"${LINE_BY_LINE[@]}" "$T/data"
	open_gate_and_reap under
	assert_one_flight
	assert_size "$T/tty.out" $((N * $(stat -c %s "$T/data")))
	assert_lines_whole "$T/tty.out" "$T/data"
}

@test "/dev/null: $N x 4 MiB, every invocation succeeds" {
	head -c "$BIG" /dev/urandom >"$T/data"
	herd big "$FC" count "$T/count" gate "$T/gate" cat "$T/data" >/dev/null 3>&- &
	PIDS[herd]=$!
	open_gate_and_reap herd
	assert_one_flight
}
