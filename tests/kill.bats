#!/usr/bin/env bats
# Invocations going away, the last one going away, the owner dying
# (contract behaviours 5 and 6).

bats_require_minimum_version 1.5.0
load helpers

# kill_one VICTIM SIGNAL STATUS: A starts, B and C join; VICTIM (A or B) is
# killed with SIGNAL and must end with STATUS; the command keeps running, a
# later joiner D still joins the same flight, and everyone left gets
# everything.
kill_one() {
	local victim=$1 sig=$2 want=$3 n pg survivors=()
	spawn A -v -k k1 -- "$FC" count "$T/count" pgid "$T/cmd.pgid" \
		out 'part1\n' err 'err1\n' gate "$T/gate" out 'part2\n' err 'err2\n' exit 6
	wait_attached 10 A
	spawn B -v -k k1 -- true
	spawn C -v -k k1 -- true
	wait_attached 10 B C
	for n in A B C; do wait_for 10 file_has "$T/$n.out" part1; done
	kill -s "$sig" "${PIDS[$victim]}"
	reap "$victim" 10
	assert_rc "$victim" "$want"
	read -r pg <"$T/cmd.pgid"
	# a round trip through the runner after the victim is gone
	spawn D -v -k k1 -- true
	wait_attached 10 D
	assert_joined D A
	kill -0 "$pg" 2>/dev/null || fail "the command died with the $victim invocation"
	touch "$T/gate"
	for n in A B C D; do
		[[ $n == "$victim" ]] && continue
		reap "$n"
		assert_rc "$n" 6
		assert_file_is "$T/$n.out" $'part1\npart2\n'
		assert_err_after_vline "$n" $'err1\nerr2\n'
	done
	assert_count "$T/count" 1
}

@test "SIGINT to the starter does not disturb the joiners" { kill_one A INT 130; }
@test "SIGTERM to the starter does not disturb the joiners" { kill_one A TERM 143; }
@test "SIGKILL to the starter does not disturb the joiners" { kill_one A KILL 137; }
@test "SIGINT to a joiner does not disturb the others" { kill_one B INT 130; }
@test "SIGTERM to a joiner does not disturb the others" { kill_one B TERM 143; }
@test "SIGKILL to a joiner does not disturb the others" { kill_one B KILL 137; }

@test "a reader whose stdout closes dies of SIGPIPE (141); the others are fine" {
	head -c 1000000 /dev/urandom >"$T/big"
	spawn A -v -k pipe -- "$FC" count "$T/count" out 'hello\n' gate "$T/gate" cat "$T/big"
	wait_attached 10 A
	(
		bash -c 'echo $$ >>"$1/.pids"; echo $$ >"$1/B.pid"; shift; exec "$@"' _ "$T" \
			env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k pipe -- true \
			2>"$T/B.err" | head -c1 >"$T/B.head"
		echo "${PIPESTATUS[0]}" >"$T/B.rc"
	) </dev/null 3>&- &
	PIDS[Bpipe]=$!
	echo $! >>"$T/.pids"
	wait_for 10 attached B
	wait_for 10 has_bytes "$T/B.head" 1
	touch "$T/gate"
	reap Bpipe 20
	reap A
	assert_equal 141 "$(cat "$T/B.rc")" "exit status of the reader behind | head -c1"
	assert_file_is "$T/B.head" 'h'
	assert_rc A 0
	{ printf 'hello\n'; cat "$T/big"; } >"$T/expected"
	assert_same_bytes "$T/expected" "$T/A.out"
	assert_count "$T/count" 1
}

@test "the command runs in its own process group" {
	spawn A -v -k pg -- "$FC" pid "$T/cmd.pids" pgid "$T/cmd.pgid" out 'x\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" x
	local pid ppid pg
	read -r pid ppid <"$T/cmd.pids"
	read -r pg <"$T/cmd.pgid"
	assert_equal "$pid" "$pg" "process group of the command"
	touch "$T/gate"
	reap A
	assert_rc A 0
}

@test "last invocation gone: TERM to the command's group, KILL after --grace" {
	spawn A -v --grace 1 -k g -- "$FC" pgid "$T/cmd.pgid" trapterm "$T/sig" \
		bgsleep "$T/grandchild.bgpid" out 'ready\n' gate "$T/gate" 60
	wait_for 10 file_has "$T/A.out" ready
	local pg gc t_term t_gone
	read -r pg <"$T/cmd.pgid"
	read -r gc <"$T/grandchild.bgpid"
	kill -KILL "${PIDS[A]}"
	reap A
	assert_rc A 137
	wait_for 5 file_has "$T/sig" TERM
	t_term=$(now_ms)
	# the grandchild in the same group got the TERM too and died of it
	wait_for 2 not_alive "$gc"
	kill -0 "$pg" 2>/dev/null || fail "command gone right after TERM (it ignores TERM; KILL must wait --grace)"
	wait_for 5 pg_gone "$pg"
	t_gone=$(now_ms)
	(( t_gone - t_term >= 700 )) || fail "KILL came $((t_gone - t_term)) ms after TERM; --grace is 1 s"
	(( t_gone - t_term <= 3000 )) || fail "KILL came $((t_gone - t_term)) ms after TERM; --grace is 1 s"
}

@test "--grace 0: KILL follows TERM at once" {
	spawn A -v --grace 0 -k g0 -- "$FC" pgid "$T/cmd.pgid" trapterm "$T/sig" out 'ready\n' gate "$T/gate" 60
	wait_for 10 file_has "$T/A.out" ready
	local pg t0
	read -r pg <"$T/cmd.pgid"
	t0=$(now_ms)
	kill -TERM "${PIDS[A]}"
	reap A
	assert_rc A 143
	wait_for 3 pg_gone "$pg"
	(( $(now_ms) - t0 <= 2000 )) || fail "command outlived a zero grace by $(( $(now_ms) - t0 )) ms"
}

@test "the command is terminated only when the LAST invocation is gone" {
	spawn A -v --grace 1 -k last -- "$FC" count "$T/count" pgid "$T/cmd.pgid" trapterm "$T/sig" \
		out 'ready\n' gate "$T/gate" 60
	wait_attached 10 A
	spawn B -v -k last -- true
	wait_attached 10 B
	wait_for 10 file_has "$T/B.out" ready
	kill -KILL "${PIDS[A]}"
	reap A
	# round trip through the runner after A is gone
	spawn C -v -k last -- true
	wait_attached 10 C
	wait_for 10 file_has "$T/C.out" ready
	[[ ! -e $T/sig ]] || fail "command got TERM while B and C were attached"
	kill -KILL "${PIDS[B]}"
	reap B
	spawn D -v -k last -- true
	wait_attached 10 D
	[[ ! -e $T/sig ]] || fail "command got TERM while C and D were attached"
	kill -INT "${PIDS[C]}"
	kill -TERM "${PIDS[D]}"
	reap C; reap D
	wait_for 5 file_has "$T/sig" TERM
	local pg
	read -r pg <"$T/cmd.pgid"
	wait_for 5 pg_gone "$pg"
	assert_count "$T/count" 1
}

@test "after the last invocation is gone the flight ends and the next run starts afresh" {
	spawn A -v -k again -- "$FC" count "$T/count" pgid "$T/cmd.pgid" out 'ready\n' gate "$T/gate" 60
	wait_for 10 file_has "$T/A.out" ready
	local pg
	read -r pg <"$T/cmd.pgid"
	kill -TERM "${PIDS[A]}"
	reap A
	assert_rc A 143
	wait_for 5 pg_gone "$pg"
	wait_for 5 test ! -e "$SFEXEC_DIR/$(keyhash again).sock"
	sfrun -v -k again -- "$FC" count "$T/count" out 'fresh\n'
	assert_status 0
	assert_file_is "$T/run.out" $'fresh\n'
	assert_match "$VLINE_STARTED" "$(head -n1 "$T/run.err")" "-v line"
	assert_count "$T/count" 2
}

@test "-w on the only invocation: 124, then the command is terminated (grace)" {
	spawn A -v -w 0.5 --grace 0.5 -k wo -- "$FC" pgid "$T/cmd.pgid" trapterm "$T/sig" \
		out 'ready\n' gate "$T/gate" 60
	reap A 10
	assert_rc A 124
	assert_file_is "$T/A.out" $'ready\n'
	assert_err_after_vline A $'sfexec: timed out after 0.5 seconds\n'
	local pg
	read -r pg <"$T/cmd.pgid"
	wait_for 5 file_has "$T/sig" TERM
	wait_for 5 pg_gone "$pg"
}

@test "owner death: every invocation exits 125 within 1 s, command group killed, next run recovers" {
	spawn A -v -k own -- "$FC" count "$T/count" pgid "$T/cmd.pgid" bgsleep "$T/grandchild.bgpid" \
		out 'part1\n' gate "$T/gate" 60
	wait_attached 10 A
	spawn B -v -k own -- true
	wait_attached 10 B
	wait_for 10 file_has "$T/A.out" part1
	wait_for 10 file_has "$T/B.out" part1
	local r pg gc t0 tA tB tG n
	r=$(runner_of A)
	[[ -n $r ]] || fail "no runner pid in: $(vline A)"
	read -r pg <"$T/cmd.pgid"
	read -r gc <"$T/grandchild.bgpid"
	t0=$(now_ms)
	kill -KILL "$r"
	wait_for 3 not_alive "${PIDS[A]}"; tA=$(now_ms)
	wait_for 3 not_alive "${PIDS[B]}"; tB=$(now_ms)
	wait_for 3 pg_gone "$pg"; tG=$(now_ms)
	reap A; reap B
	echo "# exits after owner death: A $((tA - t0)) ms, B $((tB - t0)) ms, group $((tG - t0)) ms" >&3
	# 1 s per the contract, plus polling/scheduling slack
	(( tA - t0 <= 1300 )) || fail "A took $((tA - t0)) ms to notice the owner's death"
	(( tB - t0 <= 1300 )) || fail "B took $((tB - t0)) ms to notice the owner's death"
	(( tG - t0 <= 1300 )) || fail "command group outlived the owner by $((tG - t0)) ms"
	not_alive "$gc" || fail "grandchild in the command's group survived"
	for n in A B; do
		assert_rc "$n" 125
		assert_file_is "$T/$n.out" $'part1\n'
		assert_err_after_vline "$n" "sfexec: flight owner (pid $r) died"$'\n'
	done
	SFRUN_TIMEOUT=10 sfrun -v -k own -- "$FC" count "$T/count" out 'fresh\n'
	assert_status 0
	assert_file_is "$T/run.out" $'fresh\n'
	assert_match "$VLINE_STARTED" "$(head -n1 "$T/run.err")" "-v line of the next run"
	assert_count "$T/count" 2
}

@test "owner death with a stale socket left behind: -n is not fooled, next run recovers" {
	spawn A -v -k stale -- "$FC" pgid "$T/cmd.pgid" out 'part1\n' gate "$T/gate" 60
	wait_for 10 file_has "$T/A.out" part1
	local r
	r=$(runner_of A)
	kill -KILL "$r"
	reap A 5
	assert_rc A 125
	SFRUN_TIMEOUT=10 sfrun -n -k stale -- "$FC" out 'fresh\n'
	assert_status 0
	assert_file_is "$T/run.out" $'fresh\n'
	assert_empty "$T/run.err"
}
