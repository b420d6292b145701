#!/usr/bin/env bats
# Key scoping (issue 9): --key-env NAME and --key-file PATH mix a variable's
# value or a file's identity (device, inode, size, mtime) into the key, with
# -k or without.  Invocations whose inputs differ are separate flights; the
# same inputs, in any order, coalesce; unset and missing are values too.

bats_require_minimum_version 1.5.0
load helpers

# Every flight here runs CMD: it counts its runs, says 'ran', and holds
# its flight until $T/gate exists.
setup() {
	common_setup
	CMD=("$FC" count "$T/count" out 'ran\n' gate "$T/gate")
	unset SFK_A SFK_B
}

# fly [spawn options] NAME SFEXEC-OPTIONS...: spawn an invocation of CMD
# with -v, and wait until it is attached.
fly() {
	local opts=()
	while [[ $1 == -[eiC] ]]; do
		opts+=("$1" "$2")
		shift 2
	done
	local name=$1
	shift
	spawn "${opts[@]}" "$name" -v "$@" -- "${CMD[@]}"
	wait_attached 10 "$name"
}

# land NAME...: open the gate; every NAME exits 0 with exactly 'ran'.
land() {
	local n
	touch "$T/gate"
	for n; do
		reap "$n"
		assert_rc "$n" 0
		assert_file_is "$T/$n.out" $'ran\n'
	done
}

# apart A B: A and B started flights of their own, and both commands ran
# at once (the gate is still shut).
apart() {
	assert_started "$1"
	assert_started "$2"
	wait_for 10 count_is "$T/count" 2
}

# ---- --key-env ---------------------------------------------------------------

@test "same -k, other --key-env value: two flights, the command runs twice" {
	fly -e SFK_A=1 A -k k --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A=2 B -k k --key-env SFK_A
	apart A B
	land A B
	assert_count "$T/count" 2
}

@test "same -k, same --key-env value: one flight, the second joins" {
	fly -e SFK_A=1 A -k k --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A=1 B -k k --key-env SFK_A
	assert_started A
	assert_joined B A
	land A B
	assert_count "$T/count" 1
}

@test "--key-env order does not matter, a repeated name counts once; other values are another flight" {
	fly -e SFK_A=1 -e SFK_B=2 A -k k --key-env SFK_A --key-env SFK_B
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A=1 -e SFK_B=2 B -k k --key-env=SFK_B --key-env SFK_A --key-env SFK_B
	assert_joined B A
	# the values swapped: the same names, another flight
	fly -e SFK_A=2 -e SFK_B=1 C -k k --key-env SFK_A --key-env SFK_B
	assert_started C
	wait_for 10 count_is "$T/count" 2
	land A B C
}

@test "an unset --key-env variable and an empty one are two flights" {
	fly A -k k --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A= B -k k --key-env SFK_A
	apart A B
	# unset again: A's flight
	fly C -k k --key-env SFK_A
	assert_joined C A
	land A B C
	assert_count "$T/count" 2
}

@test "the derived key (no -k) is mixed too" {
	fly -e SFK_A=1 A --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A=2 B --key-env SFK_A
	apart A B
	fly -e SFK_A=1 C --key-env SFK_A
	assert_joined C A
	land A B C
	assert_count "$T/count" 2
}

@test "-n is busy only for a flight with the same inputs" {
	fly -e SFK_A=1 A -k k --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	SFK_A=2 sfrun -n -k k --key-env SFK_A -- "$FC" out 'other\n'
	assert_status 0
	assert_file_is "$T/run.out" $'other\n'
	SFK_A=1 sfrun -n -k k --key-env SFK_A -- "$FC" touch "$T/ran"
	assert_status 75
	[[ ! -e $T/ran ]] || fail "the command ran beside a flight of the same inputs"
	land A
}

# mixhash KEY NAME...: the file name of -k KEY with --key-env NAME... as
# key.h lays it out, computed apart (variables only, values from this
# environment).
mixhash() {
	"$PY" - "$@" <<-'EOF'
	import hashlib, os, struct, sys
	def field(b): return struct.pack(">Q", len(b)) + b
	m = b"m" + hashlib.sha256(b"k" + sys.argv[1].encode()).digest()
	for name in sorted(set(sys.argv[2:])):
	    v = os.environb.get(name.encode())
	    m += b"e" + field(name.encode())
	    m += b"\0" if v is None else b"\1" + field(v)
	print(hashlib.sha256(m).hexdigest()[:32])
	EOF
}

@test "the runtime files are named after the mixed key; without inputs, after -k alone" {
	fly A -k plain
	[[ -S $(sock_of plain) ]] || fail "no socket $(sock_of plain)"
	export SFK_A='v a l' SFK_B=
	fly B -k mixed --key-env SFK_B --key-env SFK_A
	local h
	h=$(mixhash mixed SFK_A SFK_B)
	[[ -S $SFEXEC_DIR/$h.sock ]] || fail "no socket $h.sock in: $(ls "$SFEXEC_DIR")"
	[[ ! -e $(sock_of mixed) ]] || fail "the socket is named after -k alone"
	land A B
}

# ---- --key-file --------------------------------------------------------------

@test "--key-file: the same file joins, even touched again to the same mtime" {
	echo data >"$T/in"
	touch -d '2001-02-03 04:05:06.5' "$T/in"
	fly A -k k --key-file "$T/in"
	wait_for 10 count_is "$T/count" 1
	touch -d '2001-02-03 04:05:06.5' "$T/in"     # ctime and atime move
	fly B -k k --key-file "$T/in"
	assert_joined B A
	land A B
	assert_count "$T/count" 1
}

@test "--key-file: the file touched to another mtime is another flight" {
	echo data >"$T/in"
	touch -d '2001-02-03 04:05:06' "$T/in"
	fly A -k k --key-file "$T/in"
	wait_for 10 count_is "$T/count" 1
	touch -d '2001-02-03 04:05:06.000000001' "$T/in"
	fly B -k k --key-file "$T/in"
	apart A B
	land A B
}

@test "--key-file: another size with the same mtime is another flight" {
	echo data >"$T/in"
	touch -d '2001-02-03 04:05:06' "$T/in"
	fly A -k k --key-file "$T/in"
	wait_for 10 count_is "$T/count" 1
	echo more >>"$T/in"
	touch -d '2001-02-03 04:05:06' "$T/in"
	fly B -k k --key-file "$T/in"
	apart A B
	land A B
}

@test "--key-file: a missing file works, and is not an existing empty file" {
	fly A -k k --key-file "$T/d/in"
	wait_for 10 count_is "$T/count" 1
	mkdir "$T/d"
	: >"$T/d/in"
	fly B -k k --key-file "$T/d/in"
	apart A B
	# missing again, now under a regular file (ENOTDIR): A's flight
	rm -r "$T/d"
	: >"$T/d"
	fly C -k k --key-file "$T/d/in"
	assert_joined C A
	land A B C
	assert_count "$T/count" 2
}

@test "--key-file follows symbolic links: touching the target is another flight" {
	echo data >"$T/target"
	touch -d '2001-02-03 04:05:06' "$T/target"
	ln -s target "$T/link"
	fly A -k k --key-file "$T/link"
	wait_for 10 count_is "$T/count" 1
	touch -h -d '2001-01-01 00:00:00' "$T/link"  # the link itself: no change
	fly B -k k --key-file "$T/link"
	assert_joined B A
	touch -d '2001-02-03 04:05:07' "$T/target"
	fly C -k k --key-file "$T/link"
	assert_started C
	wait_for 10 count_is "$T/count" 2
	land A B C
}

@test "--key-file and --key-env together, in any order" {
	echo data >"$T/in"
	fly -e SFK_A=1 A -k k --key-file "$T/in" --key-env SFK_A
	wait_for 10 count_is "$T/count" 1
	fly -e SFK_A=1 B -k k --key-env SFK_A --key-file "$T/in"
	assert_joined B A
	land A B
	assert_count "$T/count" 1
}

@test "--key-file that cannot be looked at (a symbolic link loop): 125, one line, nothing runs" {
	ln -s loop "$T/loop"
	sfrun -k k --key-file "$T/loop" -- "$FC" touch "$T/ran"
	assert_status 125
	assert_empty "$T/run.out"
	assert_err_line "$T/run.err" \
		"sfexec: cannot use --key-file $T/loop: Too many levels of symbolic links"
	[[ ! -e $T/ran ]] || fail "the command ran"
	[[ ! -e $SFEXEC_DIR ]] || fail "the runtime directory was made"
}
