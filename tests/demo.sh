#!/bin/sh
# demo.sh — five invocations of one slow command at once; it runs once and
# all five print its output.  Run with: make demo
set -eu
sfexec=${SFEXEC:-build/sfexec}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM
export SFEXEC_DIR="$dir/rt"

slow='echo run >> "$0"; sleep 1; echo "report built at $(date +%T.%N) by pid $$"'
for i in 1 2 3 4 5; do
	"$sfexec" -k report -- sh -c "$slow" "$dir/count" > "$dir/out.$i" &
done
wait
for i in 1 2 3 4 5; do
	printf 'invocation %s got: %s\n' "$i" "$(cat "$dir/out.$i")"
done
printf 'the command ran %s time(s) for 5 invocations\n' "$(wc -l < "$dir/count")"
printf 'to run the examples in README.md: export PATH=%s:$PATH\n' \
    "$(cd "$(dirname "$sfexec")" && pwd)"
