#!/usr/bin/env bats
# The result cache (issue 9): --ttl replays a stored result without a
# flight; what is stored and what never is; --refresh, --cache-failures,
# --cache-dir; stale-while-revalidate and stale-if-error; damaged entries.
# Time passes through tests/tools/cache-entry, which ages an entry.

bats_require_minimum_version 1.5.0
load helpers

setup() {
	common_setup
	CE=$TOOLS/cache-entry
}

# entry_of KEY [DIR]: the path of KEY's cache entry.
entry_of() { echo "${2:-$SFEXEC_DIR}/$(keyhash "$1").cache"; }

# age KEY SECONDS [DIR]: the entry of KEY is SECONDS older.
age() { "$CE" "$(entry_of "$1" "${3-}")" age "$2"; }

# runs_in FILE: how many times the command ran (flightcmd's count).
assert_runs() { assert_count "$T/count" "$1"; }

# A command that counts its runs and writes to both streams; exit $1.
cmd() { echo "$FC" count "$T/count" out 'out\n' err 'err\n' exit "${1:-0}"; }

@test "--ttl: a miss runs and stores; a hit replays stdout, stderr and status without running" {
	# shellcheck disable=SC2046
	sfrun -v --ttl 60 -k t -- $(cmd)
	assert_status 0
	assert_runs 1
	[[ -f $(entry_of t) ]] || fail "no entry stored"
	grep -q 'not stored' "$T/run.err" && fail "said not stored" "$(cat "$T/run.err")"
	# shellcheck disable=SC2046
	sfrun -v --ttl 60 -k t -- $(cmd)
	assert_status 0
	assert_runs 1
	assert_file_is "$T/run.out" $'out\n'
	assert_match '^sfexec: replayed a stored result \([0-9.]+ seconds? old\)$' \
		"$(head -n1 "$T/run.err")" "the -v line"
	assert_equal 'err' "$(tail -n1 "$T/run.err")" "stderr"
}

@test "--ttl: a result older than the TTL is a miss; younger is a hit (each window's edge)" {
	# shellcheck disable=SC2046
	sfrun --ttl 10 -k edge -- $(cmd)
	age edge 9.5
	# shellcheck disable=SC2046
	sfrun --ttl 10 -k edge -- $(cmd)
	assert_runs 1
	age edge 1
	# shellcheck disable=SC2046
	sfrun --ttl 10 -k edge -- $(cmd)
	assert_runs 2
}

@test "--ttl: each invocation judges freshness by its own TTL" {
	# shellcheck disable=SC2046
	sfrun --ttl 60 -k own -- $(cmd)
	age own 30
	# shellcheck disable=SC2046
	sfrun --ttl 20 -k own -- $(cmd)
	assert_runs 2
	# shellcheck disable=SC2046
	sfrun --ttl 20 -k own -- $(cmd)
	assert_runs 2
}

@test "a non-zero exit is not stored; with --cache-failures it is, and replayed with its status" {
	# shellcheck disable=SC2046
	sfrun --ttl 60 -k f -- $(cmd 3)
	assert_status 3
	# shellcheck disable=SC2046
	sfrun --ttl 60 -k f -- $(cmd 3)
	assert_status 3
	assert_runs 2
	# shellcheck disable=SC2046
	sfrun --ttl 60 --cache-failures -k f -- $(cmd 3)
	# shellcheck disable=SC2046
	sfrun --ttl 60 -k f -- $(cmd 3)
	assert_status 3
	assert_runs 3
	assert_file_is "$T/run.out" $'out\n'
}

@test "never stored: death by a signal, command not found, cannot run" {
	sfrun --ttl 60 -k sig -- "$FC" count "$T/count" kill KILL
	assert_status 137
	sfrun --ttl 60 --cache-failures -k sig -- "$FC" count "$T/count" kill KILL
	sfrun --ttl 60 --cache-failures -k nf -- /nonexistent/command
	assert_status 127
	: >"$T/noexec"
	sfrun --ttl 60 --cache-failures -k nx -- "$T/noexec"
	assert_status 126
	[[ -z $(ls "$SFEXEC_DIR"/*.cache 2>/dev/null) ]] || fail "stored: $(ls "$SFEXEC_DIR")"
}

@test "never stored: a flight abandoned because everyone left" {
	spawn A -v --ttl 60 -k ab -- "$FC" count "$T/count" pgid "$T/cmd.pgid" out 'x\n' gate "$T/gate"
	wait_for 10 file_has "$T/A.out" x
	kill -TERM "${PIDS[A]}"
	reap A
	wait_for 10 pg_gone "$(cat "$T/cmd.pgid")"
	[[ ! -e $(entry_of ab) ]] || fail "an abandoned flight was stored"
}

@test "--refresh: runs while a result is fresh, and stores the new one" {
	sfrun --ttl 60 -k r -- "$FC" count "$T/count" out 'one\n'
	sfrun --ttl 60 --refresh -k r -- "$FC" count "$T/count" out 'two\n'
	assert_file_is "$T/run.out" $'two\n'
	assert_runs 2
	sfrun --ttl 60 -k r -- "$FC" count "$T/count" out 'three\n'
	assert_file_is "$T/run.out" $'two\n'
	assert_runs 2
}

@test "concurrent cold misses run once; everyone gets the output; the next call hits" {
	local i
	for i in 1 2 3 4 5 6; do
		spawn "i$i" -v --ttl 60 -k cold -- "$FC" count "$T/count" gate "$T/gate" out 'answer\n'
	done
	wait_attached 10 i1 i2 i3 i4 i5 i6
	touch "$T/gate"
	for i in 1 2 3 4 5 6; do
		reap "i$i"
		assert_rc "i$i" 0
		assert_file_is "$T/i$i.out" $'answer\n'
	done
	assert_runs 1
	sfrun --ttl 60 -k cold -- "$FC" count "$T/count" out 'other\n'
	assert_file_is "$T/run.out" $'answer\n'
	assert_runs 1
}

@test "a joiner's --ttl alone gets the result stored (the starter did not ask)" {
	spawn A -v -k j -- "$FC" count "$T/count" gate "$T/gate" out 'shared\n'
	wait_attached 10 A
	spawn B -v --ttl 60 -k j -- true
	wait_attached 10 B
	touch "$T/gate"
	reap A
	reap B
	assert_file_is "$T/B.out" $'shared\n'
	sfrun --ttl 60 -k j -- "$FC" count "$T/count" out 'no\n'
	assert_file_is "$T/run.out" $'shared\n'
	assert_runs 1
}

@test "2>&1: a hit replays stdout and stderr in the order the flight gave them" {
	local script='for i in 1 2 3 4 5 6; do echo "o$i"; echo "e$i" >&2; done'
	timeout 20 "$SFEXEC" --ttl 60 -k ord -- sh -c "$script" >"$T/live" 2>&1 </dev/null
	timeout 20 "$SFEXEC" --ttl 60 -k ord -- false >"$T/replay" 2>&1 </dev/null
	assert_same_bytes "$T/live" "$T/replay"
	assert_equal 12 "$(lines_in "$T/replay")" "lines"
	# and apart, each stream alone
	timeout 20 "$SFEXEC" --ttl 60 -k ord -- false >"$T/o" 2>"$T/e" </dev/null
	assert_file_is "$T/o" $'o1\no2\no3\no4\no5\no6\n'
	assert_file_is "$T/e" $'e1\ne2\ne3\ne4\ne5\ne6\n'
}

@test "damaged entries are misses and are removed: every byte" {
	local i n size
	sfrun --ttl 60 -k dmg -- "$FC" count "$T/count" out 'good\n'
	size=$(stat -c %s "$(entry_of dmg)")
	# the header (136 bytes), then the key and the command (cache.h)
	assert_equal $((136 + 3 + $(printf '%s\0' "$FC" count "$T/count" out 'good\n' | wc -c))) \
		"$size" "entry size"
	for ((i = 0; i < size; i += 7)); do
		# every bit of byte i flipped, in place
		"$PY" -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$(entry_of dmg)" "$i"
		n=$(lines_in "$T/count")
		sfrun --ttl 60 -k dmg -- "$FC" count "$T/count" out 'good\n'
		assert_status 0
		assert_file_is "$T/run.out" $'good\n'
		# a miss: it ran again (and stored a sound entry for the next byte)
		assert_runs $((n + 1))
	done
}

@test "a cache entry that is a symbolic link is a miss, removed, its target untouched" {
	echo precious >"$T/target"
	mkdir -p -m 700 "$SFEXEC_DIR"
	ln -s "$T/target" "$(entry_of lnk)"
	sfrun --ttl 60 -k lnk -- "$FC" count "$T/count" out 'fresh\n'
	assert_file_is "$T/run.out" $'fresh\n'
	assert_file_is "$T/target" $'precious\n'
	[[ -f $(entry_of lnk) && ! -L $(entry_of lnk) ]] || fail "not replaced by an entry"
}

@test "--cache-dir and SFEXEC_CACHE_DIR: results live there; a directory others can enter is refused" {
	sfrun --ttl 60 --cache-dir "$T/c1" -k cd -- "$FC" count "$T/count" out 'a\n'
	[[ -f $(entry_of cd "$T/c1") ]] || fail "nothing in --cache-dir"
	[[ ! -e $(entry_of cd) ]] || fail "stored in the runtime directory too"
	SFEXEC_CACHE_DIR=$T/c1 sfrun --ttl 60 -k cd -- "$FC" count "$T/count" out 'b\n'
	assert_file_is "$T/run.out" $'a\n'
	assert_runs 1
	mkdir -m 755 "$T/open"
	sfrun --ttl 60 --cache-dir "$T/open" -k cd -- true
	assert_status 125
	assert_match "^sfexec: cache directory $T/open: " "$stderr"
}

@test "a key's cache is scoped by --key-env" {
	V=1 sfrun --ttl 60 --key-env V -k ke -- "$FC" count "$T/count" out 'one\n'
	V=2 sfrun --ttl 60 --key-env V -k ke -- "$FC" count "$T/count" out 'two\n'
	assert_file_is "$T/run.out" $'two\n'
	V=1 sfrun --ttl 60 --key-env V -k ke -- "$FC" count "$T/count" out 'three\n'
	assert_file_is "$T/run.out" $'one\n'
	assert_runs 2
}

@test "-n: a fresh hit replays even while a flight of the key runs" {
	sfrun --ttl 60 -k nn -- "$FC" out 'stored\n'
	spawn A -v --refresh --ttl 60 -k nn -- "$FC" gate "$T/gate" out 'new\n'
	wait_attached 10 A
	sfrun -n --ttl 60 -k nn -- "$FC" out 'never\n'
	assert_status 0
	assert_file_is "$T/run.out" $'stored\n'
	touch "$T/gate"
	reap A
}

# ---- stale-while-revalidate ----------------------------------------------------

@test "stale-while-revalidate: the stale result at once, \$(...) returns while one refresh runs" {
	local out t0 t1
	# stored by an invocation that asked for the window: kept that long
	sfrun --ttl 10 --stale-while-revalidate 1h -k swr -- "$FC" count "$T/count" out 'old\n'
	age swr 15
	t0=$(now_ms)
	out=$(timeout 20 "$SFEXEC" -v --ttl 10 --stale-while-revalidate 1h -k swr -- \
		"$FC" count "$T/count" pgid "$T/cmd.pgid" gate "$T/gate" out 'new\n' 2>"$T/err" </dev/null)
	t1=$(now_ms)
	assert_equal old "$out" "the stale result"
	assert_match '^sfexec: replayed a stale result \([0-9.]+ seconds old\); refreshing it in the background$' \
		"$(cat "$T/err")" "the -v line"
	# returned while the refresh waits at its gate
	wait_for 10 count_is "$T/count" 2
	((t1 - t0 < 5000)) || fail "took $((t1 - t0)) ms"
	# more stale hits meanwhile start no second refresh
	out=$(timeout 20 "$SFEXEC" --ttl 10 --stale-while-revalidate 1h -k swr -- \
		"$FC" count "$T/count" out 'again\n' 2>/dev/null </dev/null)
	assert_equal old "$out" "a second stale hit"
	touch "$T/gate"
	wait_for 20 fresh_is swr new
	assert_runs 2
}

# fresh_is KEY TEXT: a --ttl 60 invocation now replays TEXT.
fresh_is() {
	[[ $(timeout 10 "$SFEXEC" --ttl 60 -k "$1" -- false 2>/dev/null </dev/null) == "$2" ]]
}

@test "stale-while-revalidate: many concurrent stale hits start one refresh" {
	local i
	sfrun --ttl 10 --stale-while-revalidate 1h -k herd -- "$FC" count "$T/count" out 'old\n'
	age herd 15
	for i in 1 2 3 4 5 6 7 8; do
		spawn "s$i" --ttl 10 --stale-while-revalidate 1h -k herd -- \
			"$FC" count "$T/count" gate "$T/gate" out 'new\n'
	done
	for i in 1 2 3 4 5 6 7 8; do
		reap "s$i"
		assert_file_is "$T/s$i.out" $'old\n'
	done
	touch "$T/gate"
	wait_for 20 fresh_is herd new
	assert_runs 2
}

@test "stale-while-revalidate: a failing refresh keeps the stored success" {
	sfrun --ttl 10 --stale-while-revalidate 1h -k keep -- "$FC" count "$T/count" out 'good\n'
	age keep 15
	sfrun --ttl 10 --stale-while-revalidate 1h --cache-failures -k keep -- \
		"$FC" count "$T/count" out 'bad\n' exit 1
	assert_file_is "$T/run.out" $'good\n'
	wait_for 10 count_is "$T/count" 2
	# the refresh ended (its runner is gone) and stored nothing over it
	wait_for 10 dir_has_no_socket
	"$CE" "$(entry_of keep)" show | grep -q '^status 0 ' || fail "the success was replaced"
}

dir_has_no_socket() { [[ -z $(ls "$SFEXEC_DIR"/*.sock 2>/dev/null) ]]; }

# ---- stale-if-error ---------------------------------------------------------------

@test "stale-if-error: a failing run gets the stale result (and one -v line says so)" {
	sfrun --ttl 10 --stale-if-error 1h -k sie -- "$FC" count "$T/count" out 'good\n'
	age sie 15
	sfrun -v --ttl 10 --stale-if-error 1h -k sie -- "$FC" count "$T/count" out 'broken\n' err 'oops\n' exit 2
	assert_status 0
	assert_file_is "$T/run.out" $'good\n'
	assert_runs 2
	grep -q '^sfexec: replayed the stale result (' "$T/run.err" || fail "no -v line" "$(cat "$T/run.err")"
	grep -q oops "$T/run.err" && fail "the failed run's stderr was streamed"
	true
}

@test "stale-if-error: a good run replaces and replays the new result" {
	sfrun --ttl 10 --stale-if-error 1h -k sie2 -- "$FC" count "$T/count" out 'old\n'
	age sie2 15
	sfrun --ttl 10 --stale-if-error 1h -k sie2 -- "$FC" count "$T/count" out 'new\n'
	assert_status 0
	assert_file_is "$T/run.out" $'new\n'
	sfrun --ttl 10 -k sie2 -- "$FC" count "$T/count" out 'never\n'
	assert_file_is "$T/run.out" $'new\n'
	assert_runs 2
}

@test "an entry is kept only as long as the invocations that stored it asked" {
	sfrun --ttl 10 -k short -- "$FC" count "$T/count" out 'old\n'
	age short 15
	sfrun --ttl 10 --stale-while-revalidate 1h -k short -- "$FC" count "$T/count" out 'new\n'
	assert_file_is "$T/run.out" $'new\n'
	assert_runs 2
}

@test "past every window the result is a miss" {
	sfrun --ttl 10 --stale-while-revalidate 30 -k past -- "$FC" count "$T/count" out 'old\n'
	age past 100
	sfrun --ttl 10 --stale-while-revalidate 30 --stale-if-error 30 -k past -- \
		"$FC" count "$T/count" out 'new\n'
	assert_file_is "$T/run.out" $'new\n'
	assert_runs 2
}

# ---- storage ------------------------------------------------------------------------

@test "a 64 MiB result is stored without a second copy: the spool is linked" {
	head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/big"
	sfrun --ttl 60 -k big -- cat "$T/big"
	local data
	data=$(ls "$SFEXEC_DIR"/"$(keyhash big)".*.1)
	cmp -s "$data" "$T/big" || fail "stored stdout differs"
	sfrun --ttl 60 -k big -- false
	cmp -s "$T/run.out" "$T/big" || fail "replayed stdout differs"
}

@test "a full file system for the cache: the invocation still gets its output and status" {
	[[ $EUID == 0 ]] || skip "needs root to mount a tmpfs"
	mkdir -p "$T/mnt"
	mount -t tmpfs -o size=64k,mode=0700 sfexec-cache "$T/mnt" || skip "cannot mount a tmpfs here"
	head -c $((1024 * 1024)) /dev/urandom >"$T/data"
	sfrun -v --ttl 60 --cache-dir "$T/mnt" -k full -- cat "$T/data"
	local st=$status
	grep -qx 'sfexec: the result was not stored in the cache' "$T/run.err" ||
		{ umount "$T/mnt"; fail "no -v line" "$(cat "$T/run.err")"; }
	cmp -s "$T/run.out" "$T/data" || { umount "$T/mnt"; fail "output lost"; }
	# (.sweep, a dot file, says when the cache was last swept)
	[[ -z $(ls "$T/mnt") ]] || { ls -la "$T/mnt"; umount "$T/mnt"; fail "left in the cache"; }
	umount "$T/mnt"
	assert_equal 0 "$st" "exit status"
}

@test "expired entries are removed when their key next runs" {
	sfrun --ttl 10 -k exp -- "$FC" count "$T/count" out 'old\n'
	age exp 11
	sfrun --ttl 10 -k exp -- "$FC" count "$T/count" out 'new\n'
	assert_runs 2
	# exactly one entry's files: the new one
	assert_equal 2 "$(ls "$SFEXEC_DIR" | grep -c "^$(keyhash exp)\.")" "files of the key"
}

@test "hits sharing one '>' file: every replay lands whole, as the flights' output does" {
	local i
	awk 'BEGIN { for (i = 0; i < 20000; i++) printf "%07d line of the stored result\n", i }' >"$T/data"
	sfrun --ttl 60 -k shared -- cat "$T/data"
	for i in 1 2 3 4 5 6; do
		"$SFEXEC" --ttl 60 -k shared -- false </dev/null 2>/dev/null &
		echo $! >>"$T/.pids"
	done >"$T/log"
	wait
	assert_equal $((6 * $(stat -c %s "$T/data"))) "$(stat -c %s "$T/log")" "bytes"
	for i in 1 2 3 4 5 6; do cat "$T/data"; done | sort >"$T/want"
	sort "$T/log" | cmp -s - "$T/want" || fail "lines cut or lost"
}

# ---- a hostile peer and CACHE (proto.h) ----------------------------------------------

@test "hostile peer: a CACHE frame that is garbage, or lacks its descriptor, gets it dropped; the flight carries on" {
	local what
	spawn A -v --ttl 60 -k hc -- "$FC" count "$T/count" out 'part1\n' gate "$T/gate" out 'part2\n'
	wait_attached 10 A
	for what in garbage nofd; do
		run "$TOOLS/hostile" "$(sock_of hc)" cache hc "$what"
		assert_equal welcomed "${lines[0]}" "$what: the runner's answer"
		assert_match '^closed [0-9]+$' "${lines[1]}" "$what: then"
		((${lines[1]#closed } < 3000)) || fail "$what: dropped after ${lines[1]#closed } ms"
	done
	touch "$T/gate"
	reap A
	assert_rc A 0
	assert_file_is "$T/A.out" $'part1\npart2\n'
	[[ -f $(entry_of hc) ]] || fail "the honest invocation's result was not stored"
}

@test "hostile peer: a CACHE that never comes gets it dropped after the HELLO timeout; one carrying a file is ignored" {
	spawn A -v -k hc2 -- "$FC" count "$T/count" out 'x\n' gate "$T/gate"
	wait_attached 10 A
	"$TOOLS/hostile" "$(sock_of hc2)" cache hc2 silent >"$T/silent" &
	echo $! >>"$T/.pids"
	"$TOOLS/hostile" "$(sock_of hc2)" cache hc2 file >"$T/file" &
	echo $! >>"$T/.pids"
	wait_for 10 file_has "$T/file" welcomed
	wait_for 10 file_has "$T/silent" welcomed
	touch "$T/gate"
	reap A
	wait_for 10 file_has "$T/file" exit
	wait_for 15 file_has "$T/silent" closed
	local t
	t=$(sed -n 's/^closed //p' "$T/silent")
	((t >= 3000 && t <= 8000)) || fail "silent peer dropped after $t ms"
	[[ ! -e $(entry_of hc2) ]] || fail "stored though nobody honest asked"
}

# has_open PID FILE: process PID holds FILE open.
has_open() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f" 2>/dev/null) == "$2" ]] && return 0
	done
	return 1
}

@test "a result stored while an invocation was on its way is replayed, not run a second time" {
	# An entry for the key is made in another cache directory, to appear
	# in this one at the moment of our choosing, as a flight's would.
	sfrun --ttl 60 --cache-dir "$T/other" -k race -- echo stored
	mkdir -p -m 700 "$SFEXEC_DIR"
	# The election lock is held: B finds no entry and no flight, and
	# waits at the lock, past its first look at the cache.
	flock -o "$(lock_of race)" sleep 60 &
	local holder=$!
	echo $holder >>"$T/.pids"
	wait_for 10 has_open "$holder" "$(lock_of race)"
	spawn B -v --ttl 60 -k race -- "$FC" count "$T/count" out 'ran\n'
	wait_for 10 has_open "${PIDS[B]}" "$(lock_of race)"
	# the flight "ends" and stores its result; B's turn comes
	mv "$T/other/$(keyhash race)".*.1 "$SFEXEC_DIR"/
	mv "$T/other/$(keyhash race)".cache "$SFEXEC_DIR"/
	kill "$holder"
	reap B
	assert_rc B 0
	assert_file_is "$T/B.out" $'stored\n'
	[[ ! -e $T/count ]] || fail "the command ran again within its TTL"
	assert_match '^sfexec: replayed a stored result \(.*stored while this invocation came\)$' \
		"$(cat "$T/B.err")" "the -v line"
	[[ ! -e $(lock_of race) ]] || fail "the lock file was left behind"
}
