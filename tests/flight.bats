#!/usr/bin/env bats
# Coalescing and streaming (contract behaviours 1, 2, 4).

bats_require_minimum_version 1.5.0
load helpers

@test "100 concurrent invocations: one execution, identical output and status" {
	local i names=() s
	head -c 70000 /dev/urandom >"$T/blob"
	for i in $(seq 1 100); do
		spawn "i$i" -v -k hundred -- "$FC" count "$T/count" gate "$T/gate" \
			out 'begin\n' cat "$T/blob" err 'to stderr\n' out 'end' exit 7
		names+=("i$i")
	done
	wait_attached 60 "${names[@]}"
	touch "$T/gate"
	{ printf 'begin\n'; cat "$T/blob"; printf 'end'; } >"$T/expected"
	local started=() joined=0
	for i in "${names[@]}"; do
		reap "$i" 30
		assert_rc "$i" 7
		assert_same_bytes "$T/expected" "$T/$i.out"
		assert_err_after_vline "$i" $'to stderr\n'
		if [[ $(vline "$i") =~ $VLINE_STARTED ]]; then
			started+=("$i")
		else
			joined=$((joined + 1))
		fi
	done
	assert_count "$T/count" 1
	assert_equal 1 "${#started[@]}" "number of starters"
	assert_equal 99 "$joined" "number of joiners"
	s=${PIDS[${started[0]}]}
	for i in "${names[@]}"; do
		[[ $i == "${started[0]}" ]] && continue
		assert_equal "$s" "$(starter_of "$i")" "starter pid reported by $i"
	done
}

@test "binary output with NULs and no trailing newline, on stdout and stderr" {
	printf 'a\0b\0\0c\r\n\xff\xfe\x00end-without-newline' >"$T/bin.out"
	head -c 100000 /dev/urandom >>"$T/bin.out"
	printf '\0\0err\0' >"$T/bin.err"
	local n
	for n in A B C; do
		spawn "$n" -v -k bin -- "$FC" count "$T/count" gate "$T/gate" \
			cat "$T/bin.out" ecat "$T/bin.err"
	done
	wait_attached 10 A B C
	touch "$T/gate"
	for n in A B C; do
		reap "$n"
		assert_rc "$n" 0
		assert_same_bytes "$T/bin.out" "$T/$n.out"
		tail -n +2 "$T/$n.err" >"$T/$n.err.rest"
		assert_same_bytes "$T/bin.err" "$T/$n.err.rest"
	done
	assert_count "$T/count" 1
}

@test "without -v a joiner's stdout and stderr are exactly the command's" {
	spawn A -k quiet -- "$FC" count "$T/count" out 'one\n' err 'e1\n' gate "$T/gate" out 'two' err 'e2'
	wait_for 10 file_has "$T/A.out" one
	spawn B -k quiet -- "$FC" count "$T/count"
	wait_for 10 file_has "$T/B.out" one
	touch "$T/gate"
	reap A; reap B
	local n
	for n in A B; do
		assert_rc "$n" 0
		assert_file_is "$T/$n.out" $'one\ntwo'
		assert_file_is "$T/$n.err" $'e1\ne2'
	done
	assert_count "$T/count" 1
}

@test "late joiner gets the output from byte 0 (1 MiB already written)" {
	head -c 1048576 /dev/urandom >"$T/chunk1"
	head -c 3000 /dev/urandom >"$T/chunk2"
	printf 'early stderr\n' >"$T/e1"
	spawn A -v -k late -- "$FC" count "$T/count" cat "$T/chunk1" ecat "$T/e1" \
		gate "$T/gate" cat "$T/chunk2" err 'late stderr\n'
	wait_for 20 has_bytes "$T/A.out" 1048576
	wait_for 10 file_has "$T/A.err" 'early stderr'
	spawn B -v -k late -- "$FC" count "$T/count"
	wait_attached 10 B
	assert_joined B A
	wait_for 20 has_bytes "$T/B.out" 1048576
	wait_for 10 file_has "$T/B.err" 'early stderr'
	assert_same_bytes "$T/chunk1" "$T/B.out"
	touch "$T/gate"
	reap A; reap B
	cat "$T/chunk1" "$T/chunk2" >"$T/expected"
	for n in A B; do
		assert_rc "$n" 0
		assert_same_bytes "$T/expected" "$T/$n.out"
		assert_err_after_vline "$n" $'early stderr\nlate stderr\n'
	done
	assert_count "$T/count" 1
}

@test "live: a line reaches every attached invocation before the command exits" {
	local n
	for n in A B C; do
		spawn "$n" -v -k live -- "$FC" out 'line1\n' err 'eline1\n' gate "$T/gate" out 'line2\n'
	done
	wait_attached 10 A B C
	# The command is parked on the gate: line1 must arrive now, not at exit.
	for n in A B C; do
		wait_for 10 file_has "$T/$n.out" line1
		wait_for 10 file_has "$T/$n.err" eline1
		alive "${PIDS[$n]}" || fail "$n ended early"
	done
	touch "$T/gate"
	for n in A B C; do
		reap "$n"
		assert_rc "$n" 0
		assert_file_is "$T/$n.out" $'line1\nline2\n'
		assert_err_after_vline "$n" $'eline1\n'
	done
}

@test "the command runs with the starter's environment, cwd and stdin" {
	mkdir "$T/sdir" "$T/jdir"
	printf 'starter stdin\n' >"$T/sin"
	printf 'joiner stdin\n' >"$T/jin"
	spawn -i "$T/sin" -C "$T/sdir" -e WHO=starter A -v -k ctx -- \
		"$FC" count "$T/count" gate "$T/gate" pwd env WHO stdin
	wait_attached 10 A
	spawn -i "$T/jin" -C "$T/jdir" -e WHO=joiner B -v -k ctx -- \
		"$FC" out 'joiner command ran\n'
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	local n
	for n in A B; do
		assert_rc "$n" 0
		assert_file_is "$T/$n.out" "$T/sdir"$'\nWHO=starter\nstarter stdin\n'
	done
	assert_count "$T/count" 1
}

@test "the starter's stdin is live: a pipe written after the start reaches the command" {
	mkfifo "$T/fifo"
	spawn -i "$T/fifo" A -v -k pipein -- "$FC" stdin out 'done\n'
	# spawn's redirection blocks until the fifo has a writer: open it now
	exec 7>"$T/fifo"
	wait_attached 10 A
	spawn B -v -k pipein -- true
	wait_attached 10 B
	printf 'via pipe\n' >&7
	wait_for 10 file_has "$T/B.out" 'via pipe'
	exec 7>&-
	reap A; reap B
	assert_rc A 0
	assert_rc B 0
	assert_file_is "$T/A.out" $'via pipe\ndone\n'
	assert_file_is "$T/B.out" $'via pipe\ndone\n'
}

@test "a joiner's stdin is not read" {
	printf 'starter input\n' >"$T/sin"
	printf 'joiner input must stay unread\n' >"$T/jin"
	spawn -i "$T/sin" A -v -k stdin -- "$FC" gate "$T/gate" stdin
	wait_attached 10 A
	# B's stdin shares one open file description with fd 6 of this shell:
	# had B read any of it, the shared offset would have moved.
	exec 6<"$T/jin"
	(exec env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k stdin -- cat) \
		<&6 >"$T/B.out" 2>"$T/B.err" 3>&- &
	PIDS[B]=$!
	echo $! >>"$T/.pids"
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	assert_rc A 0
	assert_rc B 0
	assert_file_is "$T/A.out" $'starter input\n'
	assert_file_is "$T/B.out" $'starter input\n'
	cat <&6 >"$T/rest"
	exec 6<&-
	assert_file_is "$T/rest" $'joiner input must stay unread\n'
}

@test "a joiner's own command and arguments are ignored under the same key" {
	spawn A -v -k same -- "$FC" count "$T/count" gate "$T/gate" out 'starter cmd\n' exit 3
	wait_attached 10 A
	spawn B -v -k same -- "$FC" count "$T/count2" out 'joiner cmd\n' exit 9
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	assert_rc A 3
	assert_rc B 3
	assert_file_is "$T/B.out" $'starter cmd\n'
	assert_count "$T/count" 1
	[[ ! -e $T/count2 ]] || fail "the joiner's command ran"
}

@test "no caching: an invocation after the flight ended starts a new one" {
	sfrun -k nc -- "$FC" count "$T/count" cat "$T/count"
	assert_status 0
	assert_file_is "$T/run.out" $'x\n'
	sfrun -v -k nc -- "$FC" count "$T/count" cat "$T/count"
	assert_status 0
	assert_file_is "$T/run.out" $'x\nx\n'
	assert_match "$VLINE_STARTED" "$(head -n1 "$T/run.err")" "second run's -v line"
	assert_count "$T/count" 2
	[[ ! -e $SFEXEC_DIR/$(keyhash nc).sock ]] || fail "socket left after the flight ended"
}

@test "a flight that ended while a joiner was reading still delivers everything" {
	# the command exits right after the gate; the joiner drains the spool
	head -c 300000 /dev/urandom >"$T/big"
	spawn A -v -k drain -- "$FC" gate "$T/gate" cat "$T/big"
	wait_attached 10 A
	spawn B -v -k drain -- true
	wait_attached 10 B
	touch "$T/gate"
	reap A; reap B
	assert_rc A 0
	assert_rc B 0
	assert_same_bytes "$T/big" "$T/A.out"
	assert_same_bytes "$T/big" "$T/B.out"
}

@test "different keys are different flights" {
	spawn A -v -k one -- "$FC" count "$T/count" gate "$T/gate" out 'one\n'
	spawn B -v -k two -- "$FC" count "$T/count" gate "$T/gate" out 'two\n'
	wait_attached 10 A B
	assert_started A
	assert_started B
	touch "$T/gate"
	reap A; reap B
	assert_file_is "$T/A.out" $'one\n'
	assert_file_is "$T/B.out" $'two\n'
	assert_count "$T/count" 2
}

@test "derived key: same argv in the same cwd joins; another cwd or argv does not" {
	mkdir "$T/d1" "$T/d2"
	spawn -C "$T/d1" A -v -- "$FC" count "$T/count" gate "$T/gate" pwd
	wait_attached 10 A
	spawn -C "$T/d1" B -v -- "$FC" count "$T/count" gate "$T/gate" pwd
	spawn -C "$T/d2" C -v -- "$FC" count "$T/count" gate "$T/gate" pwd
	spawn -C "$T/d1" D -v -- "$FC" count "$T/count" gate "$T/gate" pwd pwd
	wait_attached 10 B C D
	assert_joined B A
	assert_started C
	assert_started D
	touch "$T/gate"
	reap A; reap B; reap C; reap D
	assert_file_is "$T/A.out" "$T/d1"$'\n'
	assert_file_is "$T/B.out" "$T/d1"$'\n'
	assert_file_is "$T/C.out" "$T/d2"$'\n'
	assert_file_is "$T/D.out" "$T/d1"$'\n'"$T/d1"$'\n'
	assert_count "$T/count" 3
}

@test "derived key distinguishes argument boundaries (a b vs 'a b')" {
	spawn A -v -- "$FC" count "$T/count" gate "$T/gate" out 'a b\n'
	wait_attached 10 A
	spawn B -v -- "$FC" count "$T/count" gate "$T/gate" out 'a' 'b\n'
	wait_attached 10 B
	assert_started B
	touch "$T/gate"
	reap A; reap B
	assert_count "$T/count" 2
}

@test "a stalled reader does not hold up the others" {
	head -c 4000000 /dev/urandom >"$T/big"
	spawn A -v -k stall -- "$FC" count "$T/count" gate "$T/gate" cat "$T/big" out 'end\n'
	wait_attached 10 A
	mkfifo "$T/bfifo"
	# B's stdout is a pipe nobody reads until gate2
	("$TOOLS/wait-file" "$T/gate2" 30 && exec cat) <"$T/bfifo" >"$T/B.out" 3>&- &
	echo $! >>"$T/.pids"
	(exec env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k stall -- true) \
		</dev/null >"$T/bfifo" 2>"$T/B.err" 3>&- &
	PIDS[B]=$!
	echo $! >>"$T/.pids"
	wait_attached 10 B
	touch "$T/gate"
	reap A 30
	assert_rc A 0
	{ cat "$T/big"; printf 'end\n'; } >"$T/expected"
	assert_same_bytes "$T/expected" "$T/A.out"
	alive "${PIDS[B]}" || fail "B finished although its reader never read"
	# a new invocation after the command ended is a new flight even while
	# B is still draining the old one
	sfrun -v -k stall -- "$FC" count "$T/count" out 'second\n'
	assert_status 0
	assert_file_is "$T/run.out" $'second\n'
	touch "$T/gate2"
	reap B 30
	assert_rc B 0
	assert_same_bytes "$T/expected" "$T/B.out"
	assert_count "$T/count" 2
}

@test "invocations racing the ends of flights all get one complete result" {
	local i names=()
	for i in $(seq 1 60); do
		spawn "r$i" -k race -- "$FC" count "$T/count" out 'hello\n' err 'e\n' exit 3
		names+=("r$i")
	done
	for i in "${names[@]}"; do
		reap "$i" 30
		assert_rc "$i" 3
		assert_file_is "$T/$i.out" $'hello\n'
		assert_file_is "$T/$i.err" $'e\n'
	done
	local n
	n=$(lines_in "$T/count")
	((n >= 1 && n <= 60)) || fail "executions: $n"
}
