#!/bin/sh
# valgrind.sh — a few sfexec scenarios under valgrind memcheck: the client,
# the starter and the runner (a fork, so valgrind follows it; the command
# itself is exec'd and not traced).  Every process must report 0 errors and
# no definite leak.  Usage: tests/valgrind.sh [path/to/sfexec]
set -u
sfexec=${1:-build/sfexec}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export SFEXEC_DIR="$tmp/rt"
vg() {
	valgrind --quiet --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite --track-fds=no \
	    --log-file="$tmp/vg.%p.log" "$sfexec" "$@"
}
n=0 fail=0
check() {   # check NAME WANT_STATUS GOT_STATUS
	n=$((n + 1))
	if [ "$2" = "$3" ]; then echo "ok $n - $1"; else
		echo "not ok $n - $1: status $3, wanted $2"; fail=$((fail + 1)); fi
}

vg -k a -- printf 'out\n' > "$tmp/out"; check "plain run" 0 $?
vg -k a -- sh -c 'echo err >&2; exit 3' 2>/dev/null; check "exit status" 3 $?
vg -k b -- /nonexistent/cmd 2>/dev/null; check "command not found" 127 $?
vg -w 0.2 -q -k c -- sleep 2; check "wait timeout" 124 $?
for i in 1 2 3 4; do
	vg -k d -- sh -c 'sleep 1; head -c 100000 /dev/zero' > "$tmp/d.$i" &
done
wait
for i in 1 2 3 4; do
	[ "$(wc -c < "$tmp/d.$i")" = 100000 ]; check "joiner $i got everything" 0 $?
done
vg --bogus 2>/dev/null; check "usage error" 125 $?

# Runners exit on their own once their clients are served.
i=0
while [ "$(ls "$tmp"/vg.*.log 2>/dev/null | wc -l)" -gt 0 ] && pgrep -f "valgrind.*$tmp" >/dev/null && [ $i -lt 100 ]; do
	i=$((i + 1)); sleep 0.1
done
for log in "$tmp"/vg.*.log; do
	n=$((n + 1))
	if grep -qE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)|uninitialised' "$log"; then
		echo "not ok $n - valgrind log $(basename "$log")"; sed 's/^/# /' "$log"; fail=$((fail + 1))
	else
		echo "ok $n - valgrind log $(basename "$log") clean"
	fi
done
[ "$fail" -eq 0 ]
