#!/usr/bin/env bats
# Soak (issue 4, item 8): thousands of flights leave nothing behind, and a
# long-lived runner does not accumulate descriptors or memory.  Long: run
# with `make check-long`, not in `make check`.

bats_require_minimum_version 1.5.0
# helpers.bash finds build/ and tools/ from the test's directory: load it as
# if this file were in tests/.
LONG_DIR=$BATS_TEST_DIRNAME
BATS_TEST_DIRNAME=$(cd "$LONG_DIR/.." && pwd)
load helpers
BATS_TEST_DIRNAME=$LONG_DIR

teardown() {
	common_teardown
	[[ -n ${MNT-} ]] && mountpoint -q "$MNT" && umount -l "$MNT"
	return 0
}

# no_process_in DIR: no process has a file in DIR (or DIR itself) open.
no_process_in() {
	[[ -z $(find /proc/[0-9]*/fd -maxdepth 1 \( -lname "$1" -o -lname "$1/*" \) 2>/dev/null) ]]
}

@test "2,000 flights, sequential and overlapping, 4 keys: all right, and nothing is left behind" {
	# a file system of its own, so that spool space can be measured
	mkdir -m 0700 "$T/rt"
	if ((EUID == 0)) && mount -t tmpfs -o size=256m,mode=0700 sfexec-soak "$T/rt" 2>/dev/null; then
		MNT=$T/rt
	fi
	mkdir "$T/load"
	local t0 rc=0
	t0=$(now_ms)
	# every process the load leaves behind comes to the reaper, not to init
	timeout -s KILL 600 "$TOOLS/reaper" 10 "$T/reaper.log" \
		"$TOOLS/soak-load" "$T/load" 4 1000 2000 8 </dev/null >"$T/load.out" 2>"$T/load.err" 3>&- || rc=$?
	local runs invs
	runs=$(lines_in "$T/load/count")
	invs=$(lines_in "$T/load/invocations")
	echo "# $runs flights, $invs invocations in $(($(now_ms) - t0)) ms; reaper: $(head -n1 "$T/reaper.log")" >&3
	assert_equal 0 "$rc" "status of the load"
	assert_empty "$T/load.err"
	[[ ! -s $T/load/failures ]] || fail "$(wc -l <"$T/load/failures") invocations went wrong:" \
		"$(head -n 20 "$T/load/failures")"
	((runs >= 2000)) || fail "only $runs flights ran"
	# no orphan and no zombie: nothing of the load was there 10 s after it ended
	local left
	left=$(grep '^left ' "$T/reaper.log" || true)
	[[ -z $left ]] || fail "processes left behind (killed now):" "$left"
	assert_match '^adopted [0-9]+$' "$(head -n1 "$T/reaper.log")" "reaper's report"
	# nothing left in the runtime directory
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "runtime dir contents"
	no_process_in "$SFEXEC_DIR" || fail "a process still has the runtime dir open"
	if [[ -n ${MNT-} ]]; then
		# every spool (unnamed files) has been released
		assert_equal 0 "$(df --output=used -k "$MNT" | tail -n1 | tr -d ' ')" "kB used in the runtime dir"
	fi
}

# comer NAME MODE: one joiner of the long flight 'long' that leaves again:
#   w  gives up after 0.05 s (-w): 124, with the output so far
#   k  SIGKILLed once it has the output so far
#   t  SIGTERMed once it has the output so far
comer() {
	case $2 in
	w) spawn "$1" -v -q -w 0.05 -k long -- true ;;
	*) spawn "$1" -v -k long -- true ;;
	esac
}

@test "a long-lived runner: descriptors and memory do not grow while 1,000 joiners come and go" {
	# under AddressSanitizer freed memory waits in a quarantine: no growth
	# could be told from a leak then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
	spawn A -v -k long -- "$FC" count "$T/count" pgid "$T/cmd.pgid" out 'hello\n' err 'e\n' \
		gate "$T/gate" 600 out 'bye\n'
	wait_attached 10 A
	wait_for 10 file_has "$T/A.out" hello
	local r i j n batch=() modes=(w w w k w t w w w w) fds0 rss0 fds rss
	r=$(runner_of A)
	# joiners_round FIRST COUNT: COUNT joiners at once, every one of them
	# attached and gone again, each with the right outcome
	joiners_round() {
		batch=()
		for ((j = $1; j < $1 + $2; j++)); do
			comer "c$j" "${modes[j % 10]}"
			batch+=("c$j")
		done
		for n in "${batch[@]}"; do
			case ${modes[${n#c} % 10]} in
			k | t)
				wait_attached 10 "$n"
				wait_for 10 file_has "$T/$n.out" hello
				kill -"$([[ ${modes[${n#c} % 10]} == k ]] && echo KILL || echo TERM)" "${PIDS[$n]}"
				reap "$n" 10
				assert_rc "$n" "$([[ ${modes[${n#c} % 10]} == k ]] && echo 137 || echo 143)"
				;;
			w)
				reap "$n" 10
				assert_rc "$n" 124
				assert_file_is "$T/$n.out" $'hello\n'
				assert_err_after_vline "$n" $'e\n'
				;;
			esac
			rm -f "$T/$n.out" "$T/$n.err"
		done
	}
	# its descriptors with only A attached; its memory once warmed up
	fds0=$(fd_count "$r")
	joiners_round 0 20
	wait_for 5 fds_at_most "$r" "$fds0"
	rss0=$(vmrss_kb "$r")
	for ((i = 20; i < 1020; i += 20)); do
		joiners_round "$i" 20
	done
	# the runner notices departures in its own time
	wait_for 5 fds_at_most "$r" "$fds0"
	fds=$(fd_count "$r")
	rss=$(vmrss_kb "$r")
	echo "# runner after 1,000 joiners: $fds fds (before: $fds0), VmRSS $rss kB (before: $rss0 kB)" >&3
	assert_equal "$fds0" "$fds" "runner's descriptor count"
	((rss <= rss0 + 1024)) || fail "runner's VmRSS grew from $rss0 kB to $rss kB"
	# the command is alive and well, and not a zombie
	local pg
	read -r pg <"$T/cmd.pgid"
	alive "$pg" || fail "the command died"
	touch "$T/gate"
	reap A 10
	assert_rc A 0
	assert_file_is "$T/A.out" $'hello\nbye\n'
	assert_err_after_vline A $'e\n'
	assert_count "$T/count" 1
	wait_for 5 not_alive "$r"
	assert_equal "" "$(ls -A "$SFEXEC_DIR")" "runtime dir contents"
}
