#!/usr/bin/env bats
# Chaos (issue 4, item 1): 50 invocations of one key while the command
# streams 10 MiB with pauses; a random 20 of them, the starter always among
# them, are SIGKILLed at random moments.  Every survivor gets the whole
# output byte for byte (SHA-256) and the command's status; the command runs
# once.  20 rounds.  Long: run with `make check-long`, not in `make check`.
#
# Replay: the seed is printed at the start and again when a round fails;
#   SFEXEC_CHAOS_SEED=N bats tests/long/chaos.bats      all rounds, same choices
#   SFEXEC_CHAOS_SEED=N SFEXEC_CHAOS_ROUND=R ...         round R alone
# (SFEXEC_CHAOS_ROUNDS=K runs K rounds.)  The choices -- who joins when, who
# is killed at which point of the stream, the exit status -- are the same on
# a replay; the scheduling around them is the machine's.

bats_require_minimum_version 1.5.0

# helpers.bash finds build/ and tools/ from the test's directory: load it as
# if this file were in tests/.
LONG_DIR=$BATS_TEST_DIRNAME
BATS_TEST_DIRNAME=$(cd "$LONG_DIR/.." && pwd)
load helpers
BATS_TEST_DIRNAME=$LONG_DIR

NCHUNK=40           # chunks of the stream
CHUNK=262144        # bytes per chunk: 10 MiB in all
PAUSE_MS=10         # pause after each chunk (and it waits for the test)
NINV=50             # invocations per round
NKILL=20            # of which SIGKILLed
declare -gA STARTS=()  # NAME -> start time of its process (proc_start)

teardown() {
	if [[ -z ${BATS_TEST_COMPLETED-} && -n ${SEED-} ]]; then
		echo "# chaos failed in round ${ROUND-?}: replay with" \
			"SFEXEC_CHAOS_SEED=$SEED SFEXEC_CHAOS_ROUND=${ROUND-1}" >&3
	fi
	common_teardown
	return 0
}

# chaos_spawn NAME: one invocation of the round's flight (NAME is rR/X); its
# stdout goes straight into sha256sum ($T/NAME.sum), its stderr to $T/NAME.err.
# The command streams step by step: piece I only once $D/go.I exists.
chaos_spawn() {
	local name=$1
	(exec env --default-signal=INT,QUIT,PIPE,TERM "$SFEXEC" -v -k chaos -- \
		"$TOOLS/streamer" -c "$D/count" -g "$D/cmd.pgid" -p "$D/progress" -s "$D/go" \
		-L "$T/runs.log" -e "$STATUS" "$T/data" "$CHUNK" "$PAUSE_MS") \
		</dev/null > >(exec sha256sum >"$T/$name.sum") 2>"$T/$name.err" 3>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS[$name]=$!
	STARTS[$name]=$(proc_start $!)
	echo $! >>"$T/.pids"
}

# assert_no_overlap LOG: the runs recorded by streamer -L never overlapped:
# in time order, starts and ends alternate, and every run ended.
assert_no_overlap() {
	local bad
	bad=$(sort -k3,3n "$1" | awk '
		$1 == "start" { if (run) { print "run " $2 " started while " run " ran"; exit }
		                run = $2; n++ }
		$1 == "end"   { if (run != $2) { print "end of " $2 " while " run " ran"; exit }
		                run = "" }
		END { if (run) print "run " run " never ended" }')
	[[ -z $bad ]] || fail "two commands of one key ran at once: $bad" "$(cat "$1")"
}

# at_point C: the stream has C pieces out (C = NCHUNK + 1: it is exiting).
at_point() {
	local p=0
	[[ -f $D/progress ]] && read -r p <"$D/progress"
	((${p:-0} >= $1))
}

# attached_or_gone NAME...: each has printed its -v line, or is dead.
attached_or_gone() {
	local n l
	for n; do
		l=
		[[ -f $T/$n.err ]] && read -r l <"$T/$n.err"
		[[ $l =~ $VLINE_STARTED || $l =~ $VLINE_JOINED ]] || ! alive "${PIDS[$n]}" || return 1
	done
}

# chaos_round R: one round, its choices drawn from RANDOM (seeded by the
# caller).  The stream has points 0 .. NCHUNK+1: at point C, C pieces are
# out and the command waits for the test (C = NCHUNK+1: it is exiting).  At
# each point the test spawns the late joiners and kills the victims chosen
# for it, then lets the next piece go.
chaos_round() {
	local r=$1 i n c names=() early=() late=() victims=()
	D=$T/r$r
	mkdir "$D"
	STATUS=$((RANDOM % 100))
	MID=$((10 + RANDOM % 20))           # late joiners are all in before piece MID
	local nearly=$((20 + RANDOM % 21))  # joiners there before piece 0
	declare -A spawn_at=() kill_at=()
	local s=r$r/S
	names=("$s")
	for ((i = 1; i <= nearly; i++)); do early+=("r$r/e$i"); done
	for ((i = 1; i < NINV - nearly; i++)); do
		late+=("r$r/l$i")
		spawn_at[r$r/l$i]=$((1 + RANDOM % (MID - 1)))
	done
	names+=("${early[@]}" "${late[@]}")
	# the victims: the starter, and 19 others drawn without replacement,
	# each killed at a point from its arrival to after the command's exit
	local pool=("${names[@]:1}") k
	victims=("$s")
	while ((${#victims[@]} < NKILL)); do
		k=$((RANDOM % ${#pool[@]}))
		victims+=("${pool[k]}")
		pool=("${pool[@]:0:k}" "${pool[@]:k+1}")
	done
	for n in "${victims[@]}"; do
		c=${spawn_at[$n]-0}
		kill_at[$n]=$((c + RANDOM % (NCHUNK + 2 - c)))
	done
	echo "# round $r: status $STATUS, late joiners in before piece $MID, $nearly early joiners;" \
		"kills at $(for n in "${victims[@]}"; do printf '%s@%s ' "${n#*/}" "${kill_at[$n]}"; done)" >>"$T/rounds.log"

	chaos_spawn "$s"
	wait_attached 10 "$s"
	assert_started "$s"
	for n in "${early[@]}"; do chaos_spawn "$n"; done
	wait_for 30 attached_or_gone "${early[@]}"
	for ((c = 0; c <= NCHUNK + 1; c++)); do
		wait_for 30 at_point "$c"
		for n in "${late[@]}"; do
			((spawn_at[$n] == c)) && chaos_spawn "$n"
		done
		for n in "${victims[@]}"; do
			((kill_at[$n] == c)) || continue
			# a victim that has exited may have been reaped, and its
			# pid reused: kill only the process spawned under that name
			if [[ $(proc_start "${PIDS[$n]}") != "${STARTS[$n]}" ]] ||
				! kill -KILL "${PIDS[$n]}" 2>/dev/null; then
				echo "# round $r: ${n#*/} had already exited at point $c" >>"$T/rounds.log"
			fi
		done
		((c == MID)) && wait_for 30 attached_or_gone "${late[@]}"
		touch "$D/go.$c"
	done

	local sum vict=" ${victims[*]} " late_finish=0 runner pg
	runner=$(runner_of "$s")
	for n in "${names[@]}"; do
		reap "$n" 60
		wait_for 10 test -s "$T/$n.sum"
		if [[ $vict == *" $n "* && ${RC[$n]} == 137 ]]; then
			continue
		fi
		# a survivor -- or a victim that had finished before its kill landed
		if [[ $vict == *" $n "* ]]; then
			late_finish=$((late_finish + 1))
			echo "# round $r: ${n#*/} finished before its kill (status ${RC[$n]})" >>"$T/rounds.log"
		fi
		assert_rc "$n" "$STATUS"
		read -r sum _ <"$T/$n.sum"
		assert_equal "$DATA_SUM" "$sum" "round $r: SHA-256 of $n's stdout"
		tail -n +2 "$T/$n.err" >"$T/$n.rest"
		assert_same_bytes "$T/expected.err" "$T/$n.rest"
	done
	assert_count "$D/count" 1
	read -r pg <"$D/cmd.pgid"
	wait_for 10 pg_gone "$pg"
	wait_for 10 not_alive "$runner"
	wait_for 5 test ! -e "$(sock_of chaos)"
	wait_for 5 test ! -e "$SFEXEC_DIR/$(keyhash chaos).lock"
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "round $r: runtime dir contents"
	echo "# round $r: $((NINV - NKILL + late_finish)) got everything, $((NKILL - late_finish)) killed" >>"$T/rounds.log"
	rm -rf "$D" "$T/r$r"
	for n in "${names[@]}"; do unset "PIDS[$n]" "RC[$n]" "STARTS[$n]"; done
}

@test "chaos: 50 invocations, 10 MiB streamed, 20 SIGKILLed (the starter too) at random points, 20 rounds" {
	SEED=${SFEXEC_CHAOS_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
	local rounds=${SFEXEC_CHAOS_ROUNDS:-20} first=1 r t0
	if [[ -n ${SFEXEC_CHAOS_ROUND-} ]]; then
		first=$SFEXEC_CHAOS_ROUND
		rounds=$SFEXEC_CHAOS_ROUND
	fi
	echo "# chaos seed $SEED (replay: SFEXEC_CHAOS_SEED=$SEED)" >&3
	head -c $((NCHUNK * CHUNK)) /dev/urandom >"$T/data"
	read -r DATA_SUM _ < <(sha256sum "$T/data")
	for ((r = 0; r < NCHUNK; r++)); do echo "chunk $r"; done >"$T/expected.err"
	t0=$(now_ms)
	for ((ROUND = first; ROUND <= rounds; ROUND++)); do
		RANDOM=$((SEED * 100 + ROUND))
		chaos_round "$ROUND"
	done
	echo "# $((rounds - first + 1)) rounds in $(($(now_ms) - t0)) ms" >&3
	assert_no_overlap "$T/runs.log"
}

@test "chaos: flights abandoned mid-stream back to back, each command slow to clean up: never two at once" {
	local r i n names pg t0 rounds=${SFEXEC_CHAOS_ROUNDS:-20}
	head -c 4194304 /dev/urandom >"$T/data"
	t0=$(now_ms)
	for ((r = 1; r <= rounds; r++)); do
		names=()
		for i in 1 2 3 4 5; do
			n=a$r.$i
			spawn "$n" -k back -- "$TOOLS/streamer" -c "$T/count" -g "$T/cmd.pgid" \
				-L "$T/runs.log" -t $((50 + RANDOM % 200)) "$T/data" 65536 5
			names+=("$n")
		done
		# every invocation leaves mid-stream: the flight is abandoned,
		# and the next round's invocations arrive while it cleans up
		wait_for 30 has_bytes "$T/a$r.1.out" $((65536 * (1 + RANDOM % 8)))
		for n in "${names[@]}"; do kill -KILL "${PIDS[$n]}" 2>/dev/null || true; done
		for n in "${names[@]}"; do reap "$n" 30; done
	done
	# the last one runs to the end
	spawn last -k back -- "$TOOLS/streamer" -c "$T/count" -L "$T/runs.log" "$T/data" 65536 0
	reap last 60
	assert_rc last 0
	assert_same_bytes "$T/data" "$T/last.out"
	wait_for 30 test ! -e "$(lock_of back)"
	echo "# $rounds abandoned flights in $(($(now_ms) - t0)) ms; $(grep -c start "$T/runs.log") runs" >&3
	assert_no_overlap "$T/runs.log"
}
