#!/usr/bin/env bats
# The order of stdout and stderr (issue 8 row 5, guarantee 4), a stopped
# command (guarantee 11), and protocol version 2 (proto.h).

bats_require_minimum_version 1.5.0
load helpers

# spawn_merged NAME ARGS...: like spawn, but stdout and stderr are one open
# file description, $T/NAME.out (a `>FILE 2>&1`).
spawn_merged() {
	local name=$1
	shift
	env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" "$@" \
		</dev/null >"$T/$name.out" 2>&1 3>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS[$name]=$!
	echo $! >>"$T/.pids"
}

# spawn_piped NAME ARGS...: stdout and stderr are one pipe, read by cat
# into $T/NAME.out (a `2>&1 | cat`).  ${PIDS[NAME]} is the pipeline's cat.
spawn_piped() {
	local name=$1
	shift
	env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" "$@" </dev/null 2>&1 \
		3>&- 6>&- 7>&- 8>&- 9>&- | cat >"$T/$name.out" &
	PIDS[$name]=$!
	echo $! >>"$T/.pids"
}

# merged_attached NAME...: each NAME printed its -v line, first in .out.
merged_attached() {
	local n l
	for n; do
		l=$(head -n1 "$T/$n.out" 2>/dev/null) || return 1
		[[ $l =~ $VLINE_STARTED || $l =~ $VLINE_JOINED ]] || return 1
	done
}

# all_have STRING NAME...: every $T/NAME.out holds STRING.
all_have() {
	local s=$1 n
	shift
	for n; do file_has "$T/$n.out" "$s" || return 1; done
}

# assert_out_after_vline NAME BYTES: $T/NAME.out is a -v line, then BYTES.
assert_out_after_vline() {
	local l rest=$T/.rest.$1
	l=$(head -n1 "$T/$1.out")
	[[ $l =~ $VLINE_STARTED || $l =~ $VLINE_JOINED ]] ||
		fail "$1: first line is not a -v line: $l"
	tail -n +2 "$T/$1.out" >"$rest"
	assert_file_is "$rest" "$2"
}

# The command writes o1 e1 o2 e2 o3 e3, one write per gate: gate gN opens
# write N+1.  step N STRING NAME...: open gate gN, then wait until every
# NAME has the bytes (so the runner has read them before the next write).
INTERLEAVED=(out 'o1\n' gate g1 err 'e1\n' gate g2 out 'o2\n' gate g3
	err 'e2\n' gate g4 out 'o3\n' gate g5 err 'e3\n')
WRITTEN=$'o1\ne1\no2\ne2\no3\ne3\n'
# interleaved_cmd: that command, in CMD.
interleaved_cmd() {
	local a
	CMD=("$FC" count "$T/count" gate "$T/g0")
	for a in "${INTERLEAVED[@]}"; do
		[[ $a == g[0-9] ]] && a=$T/$a
		CMD+=("$a")
	done
	CMD+=(gate "$T/end" exit 5)
}
step() {
	local g=$1 s=$2
	shift 2
	touch "$T/$g"
	wait_for 10 all_have "$s" "$@"
}
write_all() {
	step g0 o1 "$@"
	step g1 e1 "$@"
	step g2 o2 "$@"
	step g3 e2 "$@"
	step g4 o3 "$@"
	step g5 e3 "$@"
}

@test "2>&1: interleaved writes come out in the written order, for the starter and a joiner" {
	interleaved_cmd
	spawn_merged A -v -k il -- "${CMD[@]}"
	wait_for 10 merged_attached A
	spawn_merged B -v -k il -- true
	wait_for 10 merged_attached B
	write_all A B
	touch "$T/end"
	local n
	for n in A B; do
		reap "$n"
		assert_rc "$n" 5
		assert_out_after_vline "$n" "$WRITTEN"
	done
	assert_count "$T/count" 1
}

@test "2>&1: a joiner after all the output was written replays the interleaving from byte 0" {
	interleaved_cmd
	spawn_merged A -v -k late -- "${CMD[@]}"
	wait_for 10 merged_attached A
	write_all A
	# every byte is written and read; the command waits for "end"
	spawn_merged C -v -k late -- true
	spawn_piped P -k late -- true
	wait_for 10 all_have e3 C P
	touch "$T/end"
	local n
	for n in A C; do
		reap "$n"
		assert_rc "$n" 5
		assert_out_after_vline "$n" "$WRITTEN"
	done
	reap P
	assert_file_is "$T/P.out" "$WRITTEN"
	assert_count "$T/count" 1
}

@test "separate stdout and stderr still get their own bytes exactly, beside a 2>&1 joiner" {
	interleaved_cmd
	spawn A -v -k sep -- "${CMD[@]}"
	wait_attached 10 A
	spawn_merged B -v -k sep -- true
	wait_for 10 merged_attached B
	step g0 o1 A B
	step g1 e1 B
	step g2 o2 A B
	step g3 e2 B
	step g4 o3 A B
	step g5 e3 B
	# a late joiner with separate outputs too
	spawn C -v -k sep -- true
	wait_for 10 file_has "$T/C.out" o3
	touch "$T/end"
	local n
	for n in A C; do
		reap "$n"
		assert_rc "$n" 5
		assert_file_is "$T/$n.out" $'o1\no2\no3\n'
		assert_err_after_vline "$n" $'e1\ne2\ne3\n'
	done
	reap B
	assert_rc B 5
	assert_out_after_vline B "$WRITTEN"
}

@test "2>&1 with MiBs on each stream: every byte, each stream's bytes in order" {
	# stdout's bytes are a-m and newlines, stderr's n-z and newlines, so the
	# merged output projects back onto each stream
	"$PY" - "$T" <<-'EOF'
		import os, random, sys
		r = random.Random(8)
		for name, alphabet in (("o", b"abcdefghijklm\n"), ("e", b"nopqrstuvwxyz\n")):
		    for i in range(3):
		        n = 1048576 + r.randrange(65536)
		        with open(os.path.join(sys.argv[1], "%s%d" % (name, i)), "wb") as f:
		            f.write(bytes(r.choice(alphabet) for _ in range(n)))
	EOF
	spawn_merged A -v -k bulk -- "$FC" count "$T/count" gate "$T/gate" \
		cat "$T/o0" ecat "$T/e0" cat "$T/o1" ecat "$T/e1" cat "$T/o2" ecat "$T/e2"
	wait_for 10 merged_attached A
	spawn_merged B -v -k bulk -- true
	wait_for 10 merged_attached B
	touch "$T/gate"
	cat "$T/o0" "$T/o1" "$T/o2" | tr -d '\n' >"$T/want.o"
	cat "$T/e0" "$T/e1" "$T/e2" | tr -d '\n' >"$T/want.e"
	local n total
	total=$(cat "$T"/o? "$T"/e? | wc -c)
	for n in A B; do
		reap "$n" 60
		assert_rc "$n" 0
		tail -n +2 "$T/$n.out" >"$T/$n.merged"
		assert_equal "$total" "$(stat -c %s "$T/$n.merged")" "bytes $n got"
		tr -dc 'a-m' <"$T/$n.merged" >"$T/$n.o"
		tr -dc 'n-z' <"$T/$n.merged" >"$T/$n.e"
		assert_same_bytes "$T/want.o" "$T/$n.o"
		assert_same_bytes "$T/want.e" "$T/$n.e"
	done
	assert_count "$T/count" 1
}

# ---- a stopped command ---------------------------------------------------------

STOPPED_LINE='sfexec: the command is stopped (SIGSTOP); it resumes with SIGCONT'
CONT_LINE='sfexec: the command continues'

@test "a stopped command: every invocation, and a joiner while stopped, says so once; SIGCONT and it completes" {
	spawn A -v -k stop -- "$FC" count "$T/count" pgid "$T/cmd.pgid" \
		out 'before\n' gate "$T/gate" out 'after\n' exit 3
	wait_attached 10 A
	spawn B -v -k stop -- true
	wait_attached 10 B
	wait_for 10 all_have before A B
	local pg n
	read -r pg <"$T/cmd.pgid"
	kill -STOP -- "-$pg"
	wait_for 10 file_has "$T/A.err" "$STOPPED_LINE"
	wait_for 10 file_has "$T/B.err" "$STOPPED_LINE"
	spawn C -v -k stop -- true
	wait_for 10 file_has "$T/C.err" "$STOPPED_LINE"
	kill -CONT -- "-$pg"
	for n in A B C; do wait_for 10 file_has "$T/$n.err" "$CONT_LINE"; done
	touch "$T/gate"
	for n in A B C; do
		reap "$n"
		assert_rc "$n" 3
		assert_file_is "$T/$n.out" $'before\nafter\n'
		assert_err_after_vline "$n" "$STOPPED_LINE"$'\n'"$CONT_LINE"$'\n'
	done
	assert_count "$T/count" 1
}

@test "SIGTSTP to the command's group is named as such, also with -q and without -v" {
	spawn A -q -k tstp -- "$FC" pgid "$T/cmd.pgid" out 'x\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" x
	local pg
	read -r pg <"$T/cmd.pgid"
	kill -TSTP -- "-$pg"
	wait_for 10 file_has "$T/A.err" \
		'sfexec: the command is stopped (SIGTSTP); it resumes with SIGCONT'
	kill -CONT -- "-$pg"
	wait_for 10 file_has "$T/A.err" "$CONT_LINE"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.err" \
		$'sfexec: the command is stopped (SIGTSTP); it resumes with SIGCONT\n'"$CONT_LINE"$'\n'
}

@test "a stopped command whose invocations all leave is still terminated" {
	spawn A -v -k stopgone --grace 30 -- "$FC" pgid "$T/cmd.pgid" \
		trapterm "$T/term.log" out 'x\n' gate "$T/never" 60
	wait_attached 10 A
	wait_for 10 file_has "$T/A.out" x
	local pg
	read -r pg <"$T/cmd.pgid"
	kill -STOP -- "-$pg"
	wait_for 10 file_has "$T/A.err" "$STOPPED_LINE"
	kill -TERM "${PIDS[A]}"
	reap A
	# SIGTERM reaches a stopped group only once it continues: the runner
	# sends SIGCONT after it, well before --grace 30 would SIGKILL it
	wait_for 10 file_has "$T/term.log" TERM
	kill -KILL -- "-$pg" 2>/dev/null || true
}

# ---- protocol version 2 ---------------------------------------------------------

@test "a protocol version 1 HELLO gets REFUSE (version), and the flight carries on" {
	spawn A -v -k v1 -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	run "$TOOLS/hostile" "$(sock_of v1)" oldhello v1
	assert_equal "refused 1" "${lines[0]}" "what a version 1 client got"
	assert_match '^closed [0-9]+$' "${lines[1]}" "after the REFUSE"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
}

@test "a HELLO with a flag this version does not know gets REFUSE (version); the flight carries on" {
	local f
	spawn A -v -k flags -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	# 0x4 (control) is known, but not beside the joiner's flags.
	for f in 0x8 0x8000 0xfff8 0x5 0x6; do
		run "$TOOLS/hostile" "$(sock_of flags)" flaghello flags "$f"
		assert_equal "refused 1" "${lines[0]}" "what HELLO flags $f got"
		assert_match '^closed [0-9]+$' "${lines[1]}" "after the REFUSE"
	done
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
	assert_count "$T/count" 1
}
