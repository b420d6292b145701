#!/usr/bin/env bats
# sfexec the way it is used: make -j, cron, an API stampede (behaviour 9).

bats_require_minimum_version 1.5.0
load helpers

@test "make -j8: eight recipes sharing one key run the generated step once" {
	local i targets=() names=()
	mkdir "$T/mk"
	cat >"$T/mk/gen.sh" <<-EOF
		#!/bin/bash
		# an expensive code generator: count the run, wait for the test
		echo x >>"$T/count"
		"$TOOLS/wait-file" "$T/gate" 30 || exit 99
		printf '/* generated */\n#define ANSWER 42\n'
	EOF
	chmod +x "$T/mk/gen.sh"
	for i in 1 2 3 4 5 6 7 8; do
		targets+=("t$i")
		names+=("mk/t$i")
	done
	{
		printf 'SFEXEC = sfexec\n'
		printf 'all: %s\n' "${targets[*]}"
		printf '%s:\n' "${targets[*]}"
		printf '\t$(SFEXEC) -v -k codegen -- ./gen.sh >$@.tmp 2>$@.err && mv $@.tmp $@\n'
		printf '.PHONY: all\n'
	} >"$T/mk/Makefile"
	(cd "$T/mk" && exec make -j8 SFEXEC="$SFEXEC") </dev/null >"$T/make.out" 2>"$T/make.err" 3>&- &
	PIDS[make]=$!
	echo $! >>"$T/.pids"
	wait_attached 30 "${names[@]}"
	touch "$T/gate"
	reap make 30
	assert_rc make 0
	assert_count "$T/count" 1
	local started=0
	for i in "${names[@]}"; do
		assert_file_is "$T/$i" $'/* generated */\n#define ANSWER 42\n'
		assert_err_after_vline "$i" ''
		[[ $(vline "$i") =~ $VLINE_STARTED ]] && started=$((started + 1))
	done
	assert_equal 1 "$started" "recipes that started the step"
}

@test "cron overlap: a run started midway joins and gets everything from byte 0" {
	local job=("$FC" count "$T/count" out 'sync: step 1\n' gate "$T/g1" out 'sync: step 2\n' \
		err 'sync: warning\n' gate "$T/g2" out 'sync: done\n')
	spawn A -q -k sync -- "${job[@]}"
	wait_for 10 file_has "$T/A.out" 'step 1'
	# five minutes later: the next cron run, while the first is midway
	spawn B -q -v -k sync -- "${job[@]}"
	wait_attached 10 B
	assert_joined B A
	wait_for 10 file_has "$T/B.out" 'step 1'
	touch "$T/g1"
	wait_for 10 file_has "$T/B.out" 'step 2'
	wait_for 10 file_has "$T/A.out" 'step 2'
	touch "$T/g2"
	reap A; reap B
	assert_rc A 0
	assert_rc B 0
	assert_file_is "$T/A.out" $'sync: step 1\nsync: step 2\nsync: done\n'
	assert_file_is "$T/B.out" $'sync: step 1\nsync: step 2\nsync: done\n'
	assert_file_is "$T/A.err" $'sync: warning\n'
	assert_err_after_vline B $'sync: warning\n'
	assert_count "$T/count" 1
	# the run after that is a new sync, not a replay
	touch "$T/g1" "$T/g2"
	sfrun -q -k sync -- "${job[@]}"
	assert_status 0
	assert_count "$T/count" 2
}

@test "cron skip: with -q -n an overlapping run exits 75 silently and the first is unharmed" {
	spawn A -q -n -k sync -- "$FC" count "$T/count" out 'step 1\n' gate "$T/gate" out 'done\n'
	wait_for 10 file_has "$T/A.out" 'step 1'
	sfrun -q -n -k sync -- "$FC" count "$T/count" out 'step 1\n' gate "$T/gate" out 'done\n'
	assert_status 75
	assert_empty "$T/run.out"
	assert_empty "$T/run.err"
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'step 1\ndone\n'
	assert_empty "$T/A.err"
	assert_count "$T/count" 1
}

@test "stampede: 20 concurrent curl calls to a slow API make one request" {
	"$PY" -I "$TOOLS/slow-api" "$T" </dev/null >/dev/null 2>"$T/api.err" 3>&- &
	echo $! >>"$T/.pids"
	wait_for 10 test -s "$T/port"
	local port i names=()
	read -r port <"$T/port"
	for i in $(seq 1 20); do
		spawn "c$i" -v -k "price-api" -- curl -sS --max-time 30 "http://127.0.0.1:$port/price"
		names+=("c$i")
	done
	wait_attached 30 "${names[@]}"
	touch "$T/gate"
	for i in "${names[@]}"; do
		reap "$i" 30
		assert_rc "$i" 0
		assert_file_is "$T/$i.out" $'{"price": 42, "path": "/price"}\n'
		assert_err_after_vline "$i" ''
	done
	assert_count "$T/hits" 1
}
