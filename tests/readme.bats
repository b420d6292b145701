#!/usr/bin/env bats
# README.md says what it shows works: its examples run as printed, its
# quick start's demo runs, and its dependency table is the list .ci/deps
# installs.
#
# An example is a fenced block after the line `<!-- readme.bats: run -->`;
# the fenced block after a following `<!-- readme.bats: output -->` is its
# exact stdout.  Each example runs with bash in a directory of its own, with
# `sfexec` on PATH (the binary under test) and a private runtime directory.

bats_require_minimum_version 1.5.0
load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
README=$ROOT/README.md

setup() {
	common_setup
	mkdir "$T/bin"
	ln -s "$SFEXEC" "$T/bin/sfexec"
	export PATH=$T/bin:$PATH
}

# readme_examples DIR: write README's examples to DIR/N.sh and their
# outputs to DIR/N.want (N from 1); print how many there are.  Fails on a
# marker that no fenced block follows.
readme_examples() {
	awk -v dir="$1" '
	/^<!-- readme\.bats: run -->$/ { want = "sh"; n++; next }
	/^<!-- readme\.bats: output -->$/ {
		if (!n) { print "README.md:" NR ": output before any example" >"/dev/stderr"; bad = 1; exit }
		want = "want"; next
	}
	want != "" && !fence && /^```/ { fence = 1; file = dir "/" n "." want; printf "" >file; next }
	fence && /^```$/ { fence = 0; want = ""; close(file); next }
	fence { print >file; next }
	want != "" && NF {
		print "README.md:" NR ": no fenced block after the marker" >"/dev/stderr"; bad = 1; exit
	}
	END { if (bad || fence) exit 1; print n + 0 }
	' "$README"
}

@test "README: every example runs as printed and prints what README says" {
	mkdir "$T/ex"
	local n i failed=0
	n=$(readme_examples "$T/ex")
	((n >= 3)) || fail "only $n marked examples in README.md"
	for ((i = 1; i <= n; i++)); do
		mkdir "$T/work.$i"
		status=0
		(cd "$T/work.$i" && exec timeout -s KILL 60 bash "$T/ex/$i.sh") \
			</dev/null >"$T/ex/$i.out" 2>"$T/ex/$i.err" 3>&- || status=$?
		echo "# example $i: $(grep -m1 '^#' "$T/ex/$i.sh"), status $status" >&3
		if ((status != 0)); then
			failed=1
			fail "example $i exited with $status:" "$(cat "$T/ex/$i.sh")" \
				"stderr: $(head -c 500 "$T/ex/$i.err")" || true
		fi
		if [[ -s $T/ex/$i.err ]]; then
			failed=1
			fail "example $i wrote to stderr: $(head -c 500 "$T/ex/$i.err")" || true
		fi
		if [[ -f $T/ex/$i.want ]] && ! cmp -s "$T/ex/$i.want" "$T/ex/$i.out"; then
			failed=1
			fail "example $i printed something else than README says:" \
				"$(diff "$T/ex/$i.want" "$T/ex/$i.out")" || true
		fi
	done
	((failed == 0))
}

@test "README: the examples' markers are well formed" {
	mkdir "$T/ex"
	local n i
	n=$(readme_examples "$T/ex")
	for ((i = 1; i <= n; i++)); do
		[[ -s $T/ex/$i.sh ]] || fail "example $i is empty"
		[[ ! -f $T/ex/$i.want || -s $T/ex/$i.want ]] || fail "the output of example $i is empty"
	done
	# a marker that is not on a line of its own is not seen: catch typos
	local all seen
	all=$(grep -c 'readme\.bats:' "$README")
	seen=$(grep -cxE '<!-- readme\.bats: (run|output) -->' "$README")
	assert_equal "$all" "$seen" "lines naming readme.bats that are markers"
}

@test "README quick start: .ci/deps installs, the demo runs the command once for five invocations" {
	local qs
	qs=$(sed -n '/^## Quick start/,/^## /p' "$README" | grep '^    ')
	assert_equal $'    .ci/deps && make demo\n    make check' "$qs" "quick start commands"
	run -0 env SFEXEC="$SFEXEC" "$ROOT/tests/demo.sh"
	assert_equal 5 "$(grep -c '^invocation [1-5] got: report built at ' <<<"$output")" "invocations with the report"
	assert_equal 1 "$(grep '^invocation' <<<"$output" | sed 's/^invocation [1-5] got: //' | sort -u | wc -l)" \
		"different reports"
	grep -qxF 'the command ran 1 time(s) for 5 invocations' <<<"$output" || fail "demo output:" "$output"
}

@test "README's dependency table lists exactly what .ci/deps installs" {
	# rows of the table under "| package | why |": names in the first
	# column; rows whose reason says `--all` only with --all
	local table check all
	table=$(sed -n '/^| package | why |$/,/^$/p' "$README" | tail -n +3)
	[[ -n $table ]] || fail "no dependency table in README.md"
	check=$(grep -v '`--all`' <<<"$table" | cut -d'|' -f2 | grep -o '`[^`]*`' | tr -d '`' | sort)
	all=$(cut -d'|' -f2 <<<"$table" | grep -o '`[^`]*`' | tr -d '`' | sort)
	assert_equal "$(cd "$ROOT" && .ci/deps --list | sort)" "$check" "packages for make check"
	assert_equal "$(cd "$ROOT" && .ci/deps --list --all | sort)" "$all" "packages with --all"
	grep -qx '    .ci/deps --all' "$ROOT/.ci/run" || fail ".ci/run does not install with .ci/deps --all"
}
