#!/usr/bin/env bats
# Shell completion (issue 10, shell integration): cmd/completions/sfexec.bash
# driven through _sfexec as bash would drive it, the zsh script's syntax, and
# where make install puts both.
#
# Every bash case runs in a fresh non-interactive bash without the
# bash-completion package, and once more with it loaded when
# $BASH_COMPLETION_FILE (default /usr/share/bash-completion/bash_completion)
# exists.

bats_require_minimum_version 1.5.0
load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BASH_SCRIPT=$ROOT/cmd/completions/sfexec.bash
ZSH_SCRIPT=$ROOT/cmd/completions/_sfexec
BC=${BASH_COMPLETION_FILE:-/usr/share/bash-completion/bash_completion}
MODES=(plain)
[[ -f $BC ]] && MODES+=(bash-completion)

# comp MODE WORD... CUR: complete the line "sfexec WORD... CUR" with the
# cursor at its end; COMPREPLY lands in the array REPLIES.  Words are given
# as bash splits them ("--key-env=HO" is "--key-env" "=" "HO").
comp() {
	local mode=$1
	shift
	run --separate-stderr bash --norc --noprofile -c '
		if [[ $1 == bash-completion ]]; then source "$2" || exit 99; fi
		source "$3" || exit 98
		shift 3
		COMP_WORDS=(sfexec "$@")
		COMP_CWORD=$#
		COMP_LINE="sfexec $*"
		COMP_POINT=${#COMP_LINE}
		_sfexec sfexec "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' comp "$mode" "$BC" "$BASH_SCRIPT" "$@"
	[[ $status == 0 ]] || fail "$mode: sfexec $*: completion exited $status" "$stderr"
	REPLIES=()
	[[ -z $output ]] || mapfile -t REPLIES <<<"$output"
	WHAT="$mode: sfexec $*"
}

# offers WORD...: each WORD is in REPLIES.
offers() {
	local w r
	for w; do
		for r in "${REPLIES[@]}"; do
			[[ $r == "$w" ]] && continue 2
		done
		fail "$WHAT: $w not offered" "got: ${REPLIES[*]}"
	done
}

# offers_none_of WORD...: no WORD is in REPLIES.
offers_none_of() {
	local w r
	for w; do
		for r in "${REPLIES[@]}"; do
			[[ $r != "$w" ]] || fail "$WHAT: $w offered" "got: ${REPLIES[*]}"
		done
	done
}

# offers_exactly WORD...: REPLIES is the WORDs (in any order).
offers_exactly() {
	local got want
	got=$(printf '%s\n' "${REPLIES[@]}" | sort)
	want=$(printf '%s\n' "$@" | sort)
	assert_equal "$want" "$got" "$WHAT"
}

SFEXEC_OPTS=(--key --dir --no-wait --wait-timeout --grace --ttl --cache-dir --key-env)

@test "bash: sourcing the script registers complete -F _sfexec sfexec" {
	for mode in "${MODES[@]}"; do
		run --separate-stderr bash --norc --noprofile -c '
			if [[ $1 == bash-completion ]]; then source "$2" || exit 99; fi
			source "$3" && complete -p sfexec' comp "$mode" "$BC" "$BASH_SCRIPT"
		assert_status 0
		assert_equal "complete -F _sfexec sfexec" "$output" "$mode: complete -p"
	done
}

@test "bash: option names complete (--tt gives --ttl, --key-e gives --key-env)" {
	for mode in "${MODES[@]}"; do
		comp "$mode" --tt
		offers_exactly --ttl
		comp "$mode" --key-e
		offers_exactly --key-env
		comp "$mode" --stale
		offers_exactly --stale-while-revalidate --stale-if-error
	done
}

@test "bash: '-' offers every option of sfexec --help, short and long, and --" {
	local opts
	opts=$("$SFEXEC" --help | grep -oE -- '(^|[ ,])--?[A-Za-z][a-z-]*' | tr -d ' ,' | sort -u)
	[[ -n $opts ]] || fail "no options found in sfexec --help"
	for mode in "${MODES[@]}"; do
		comp "$mode" -
		# shellcheck disable=SC2086 # one option a word
		offers $opts --
		# shellcheck disable=SC2086
		offers_exactly $opts --
	done
}

@test "bash: --key-env completes environment variable names (HO gives HOME)" {
	export SFEXEC_COMP_TEST_VAR=1
	for mode in "${MODES[@]}"; do
		comp "$mode" --key-env HO
		offers HOME
		comp "$mode" --key-env = HO               # --key-env=HO
		offers HOME
		comp "$mode" --key-e SFEXEC_COMP_TEST_V   # abbreviated, as getopt_long takes it
		offers_exactly SFEXEC_COMP_TEST_VAR
		comp "$mode" -k foo --key-env x --key-env HO
		offers HOME
	done
}

@test "bash: -d and --cache-dir complete directories only (-d /tm gives /tmp)" {
	mkdir -p "$T/d/sub1" "$T/d/sub2"
	: >"$T/d/subfile"
	for mode in "${MODES[@]}"; do
		comp "$mode" -d /tm
		offers /tmp
		comp "$mode" -d "$T/d/s"
		offers_exactly "$T/d/sub1" "$T/d/sub2"
		comp "$mode" --dir "$T/d/s"
		offers_exactly "$T/d/sub1" "$T/d/sub2"
		comp "$mode" --cache-dir = "$T/d/s"         # --cache-dir=...
		offers_exactly "$T/d/sub1" "$T/d/sub2"
		comp "$mode" -nvd "$T/d/s"
		offers_exactly "$T/d/sub1" "$T/d/sub2"
	done
}

@test "bash: --key-file completes files" {
	mkdir -p "$T/d/sub"
	: >"$T/d/stamp"
	for mode in "${MODES[@]}"; do
		comp "$mode" --key-file "$T/d/st"
		offers_exactly "$T/d/stamp"
	done
}

@test "bash: -k, --key, -w, --grace, --ttl and the stale windows complete nothing" {
	cd "$T"
	: >anyfile
	for mode in "${MODES[@]}"; do
		for opt in -k --key -w --wait-timeout --grace --ttl \
		    --stale-while-revalidate --stale-if-error; do
			comp "$mode" "$opt" ""
			offers_exactly
		done
		comp "$mode" --ttl 5 --grace ""
		offers_exactly
	done
}

@test "bash: the first word that is not an option completes commands (ec gives echo)" {
	for mode in "${MODES[@]}"; do
		comp "$mode" -k foo ec
		offers echo
		comp "$mode" -nk foo ec
		offers echo
		comp "$mode" -kfoo ec
		offers echo
		comp "$mode" --key = foo ec                 # --key=foo
		offers echo
		comp "$mode" --ttl 5 --refresh -- ec
		offers echo
		comp "$mode" ec
		offers echo
	done
}

@test "bash: after the command, its own words: sfexec's options are not offered" {
	for mode in "${MODES[@]}"; do
		comp "$mode" -k foo -- ls --al
		offers_none_of "${SFEXEC_OPTS[@]}"
		[[ $mode == plain ]] || offers --all     # ls's own completion
		comp "$mode" -k foo -- ls --
		offers_none_of "${SFEXEC_OPTS[@]}"
		comp "$mode" -k foo ls -
		offers_none_of "${SFEXEC_OPTS[@]}" -k -d
	done
}

@test "bash: options after the command word are the command's (ls --key-env HO)" {
	cd "$T"
	for mode in "${MODES[@]}"; do
		comp "$mode" ls --key-env HO
		offers_none_of HOME
		comp "$mode" -k foo ls -d /tm
		offers /tmp
	done
}

@test "zsh: _sfexec parses (zsh -n)" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run --separate-stderr zsh -n "$ZSH_SCRIPT"
	assert_status 0
	assert_equal "" "$stderr" "zsh -n stderr"
}

@test "make install puts both completions in place, mode 0644" {
	run --separate-stderr make -s -C "$ROOT" install DESTDIR="$T/pkg" PREFIX=/usr
	assert_status 0
	assert_equal 0644 "$(file_mode "$T/pkg/usr/share/bash-completion/completions/sfexec")" \
		"mode of the bash completion"
	assert_equal 0644 "$(file_mode "$T/pkg/usr/share/zsh/site-functions/_sfexec")" \
		"mode of the zsh completion"
	cmp "$BASH_SCRIPT" "$T/pkg/usr/share/bash-completion/completions/sfexec"
	cmp "$ZSH_SCRIPT" "$T/pkg/usr/share/zsh/site-functions/_sfexec"
}

@test "make uninstall removes both completions" {
	run --separate-stderr make -s -C "$ROOT" install DESTDIR="$T/pkg" PREFIX=/usr
	assert_status 0
	run --separate-stderr make -s -C "$ROOT" uninstall DESTDIR="$T/pkg" PREFIX=/usr
	assert_status 0
	[[ ! -e $T/pkg/usr/share/bash-completion/completions/sfexec ]] ||
		fail "bash completion still installed"
	[[ ! -e $T/pkg/usr/share/zsh/site-functions/_sfexec ]] ||
		fail "zsh completion still installed"
}
