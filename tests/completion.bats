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

# stub_sfexec [SCRIPT]: put first in PATH an `sfexec` that records its
# arguments in $T/stub.args (one line a call, %q-quoted) and, for
# --list --json (with any -d, --cache-dir), prints canned rows: a running
# key (a whole row, with "key":" in an argument), a key with a space, one with quotes, a derived and an unresponsive
# row (key null), one whose text holds a backslash and a byte that is not
# UTF-8, an escaped slash, and a key with a tab (a control character).
# SCRIPT, if given, replaces what it does after recording.
stub_sfexec() {
	mkdir -p "$T/bin"
	{
		printf '#!/bin/bash\nprintf "%%q " "$@" >>%q; echo >>%q\n' \
			"$T/stub.args" "$T/stub.args"
		if [[ -n ${1-} ]]; then
			printf '%s\n' "$1"
		else
			cat <<-'EOF'
			[[ $1 == --list && $2 == --json ]] || exit 125
			cat <<'ROWS'
			{"id":"00000000000000000000000000000001","key":"mirror-sync","derived":false,"state":"running","runner_pid":41022,"started":"2026-12-01T05:29:52Z","ended":null,"age_seconds":720,"invocations":3,"stdout_bytes":10695475,"stderr_bytes":0,"exit_status":null,"argv":["rsync","-a","key\":\"not-a-key"],"argv_cut":false,"keep_until":null}
			{"id":"00000000000000000000000000000002","key":"my key","derived":false,"state":"cached","runner_pid":null}
			{"id":"00000000000000000000000000000003","key":"say \"hi\", it's","derived":false,"state":"running"}
			{"id":"00000000000000000000000000000004","key":null,"derived":true,"state":"running"}
			{"id":"00000000000000000000000000000005","key":null,"derived":false,"state":"unresponsive"}
			{"id":"00000000000000000000000000000006","key":"back\\\\slash \\xff","derived":false,"state":"running"}
			{"id":"00000000000000000000000000000007","key":"a\/b","derived":false,"state":"forgotten"}
			{"id":"00000000000000000000000000000008","key":"tab\tkey","derived":false,"state":"running"}
			ROWS
			EOF
		fi
	} >"$T/bin/sfexec"
	chmod +x "$T/bin/sfexec"
	export PATH="$T/bin:$PATH"
	: >"$T/stub.args"
}

# KEYS: the stub's keys as completion offers them outside quotes.
stub_keys() {
	local k q
	KEYS=()
	for k in mirror-sync 'my key' "say \"hi\", it's" a/b $'back\\slash \xff'; do
		printf -v q %q "$k"
		KEYS+=("$q")
	done
}

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

@test "bash: -w, --grace, --ttl and the stale windows complete nothing" {
	cd "$T"
	: >anyfile
	stub_sfexec
	for mode in "${MODES[@]}"; do
		for opt in -w --wait-timeout --grace --ttl \
		    --stale-while-revalidate --stale-if-error; do
			comp "$mode" "$opt" ""
			offers_exactly
		done
		comp "$mode" --ttl 5 --grace ""
		offers_exactly
	done
}

@test "bash: the fleet's options: --redis, --redis-prefix, --lease and --redis-max-bytes complete nothing" {
	cd "$T"
	: >anyfile
	stub_sfexec
	for mode in "${MODES[@]}"; do
		comp "$mode" --redi
		offers_exactly --redis --redis-prefix --redis-optional --redis-max-bytes
		comp "$mode" --le
		offers_exactly --lease
		for opt in --redis --redis-prefix --lease --redis-max-bytes; do
			comp "$mode" "$opt" ""
			offers_exactly
			comp "$mode" "$opt" = ""                # --opt=
			offers_exactly
		done
		comp "$mode" --redis-p ""                 # abbreviated, as getopt_long takes it
		offers_exactly
		# --redis-optional takes no value: the next word is the command
		comp "$mode" --redis-optional ec
		offers echo
		comp "$mode" --redis redis://h --lease 5 --redis-max-bytes 1G ec
		offers echo
	done
	[[ ! -s $T/stub.args ]] || fail "sfexec was run" "$(cat "$T/stub.args")"
}

@test "bash: the fleet's options are a run's: not after --list, --forget, --cancel, and they rule those out" {
	for mode in "${MODES[@]}"; do
		comp "$mode" --list --
		offers_none_of --redis --redis-prefix --lease --redis-optional --redis-max-bytes
		comp "$mode" --forget --
		offers_none_of --redis --redis-prefix --lease --redis-optional --redis-max-bytes
		comp "$mode" --cancel --
		offers_none_of --redis --redis-prefix --lease --redis-optional --redis-max-bytes
		comp "$mode" --redis-optional --
		offers_none_of --list --forget --cancel --json
		offers --redis --lease --key --
		comp "$mode" --lease = 5 --                 # --lease=5
		offers_none_of --list --forget --cancel --json
	done
}

@test "bash: -k and --key complete the keys of sfexec --list --json, quoted" {
	stub_sfexec
	stub_keys
	for mode in "${MODES[@]}"; do
		comp "$mode" -k ""
		offers_exactly "${KEYS[@]}"
		comp "$mode" --key ""
		offers_exactly "${KEYS[@]}"
		comp "$mode" -k m
		offers_exactly mirror-sync 'my\ key'
		comp "$mode" -k 'my\ '                      # typed with a backslash
		offers_exactly 'my\ key'
		comp "$mode" --key = m                      # --key=m
		offers_exactly mirror-sync 'my\ key'
		comp "$mode" --key=m                        # one word
		offers_exactly --key=mirror-sync '--key=my\ key'
		comp "$mode" -km                            # attached, clustered
		offers_exactly -kmirror-sync '-kmy\ key'
		comp "$mode" -vnkm
		offers_exactly -vnkmirror-sync '-vnkmy\ key'
		comp "$mode" -k x
		offers_exactly
	done
	# one --list --json per completion, nothing else asked of it
	[[ $(sort -u "$T/stub.args") == "--list --json " ]] ||
		fail "the stub was called otherwise" "$(cat "$T/stub.args")"
}

@test "bash: keys inside an opening quote are quoted for that quote" {
	stub_sfexec
	for mode in "${MODES[@]}"; do
		comp "$mode" -k '"my'
		offers_exactly 'my key'
		comp "$mode" -k '"sa'
		offers_exactly 'say \"hi\", it'\''s'
		comp "$mode" -k "'sa"
		offers_exactly "say \"hi\", it'\\''s"
	done
}

@test "bash: -k after --forget and --cancel completes keys too" {
	stub_sfexec
	stub_keys
	for mode in "${MODES[@]}"; do
		comp "$mode" --forget -k ""
		offers_exactly "${KEYS[@]}"
		comp "$mode" --cancel --grace 2 --key m
		offers_exactly mirror-sync 'my\ key'
		comp "$mode" -v --forget --key = a
		offers_exactly a/b
	done
}

@test "bash: -d and --cache-dir given before -k go to that --list" {
	mkdir -p "$T/run dir" "$T/cache"
	stub_sfexec
	for mode in "${MODES[@]}"; do
		: >"$T/stub.args"
		comp "$mode" -d "$T/run\ dir" --cache-dir "$T/cache" -k m
		offers_exactly mirror-sync 'my\ key'
		comp "$mode" --forget --dir = "'$T/run dir'" --cache-dir="$T/cache" -k m
		offers_exactly mirror-sync 'my\ key'
		comp "$mode" --cancel -qd"$T/cache" --key ""
		comp "$mode" -d '$HOME' -k m                # an expansion: not run
		offers_exactly mirror-sync 'my\ key'
		assert_equal "$(printf '%s\n' \
			"--list --json -d $(printf %q "$T/run dir") --cache-dir $(printf %q "$T/cache") " \
			"--list --json --dir $(printf %q "$T/run dir") --cache-dir $(printf %q "$T/cache") " \
			"--list --json -d $(printf %q "$T/cache") " \
			"--list --json ")" "$(cat "$T/stub.args")" "$mode: stub calls"
	done
}

@test "bash: no keys when sfexec --list fails, and nothing on stderr" {
	stub_sfexec 'echo "sfexec: cannot list: Permission denied" >&2; exit 125'
	for mode in "${MODES[@]}"; do
		comp "$mode" -k ""
		offers_exactly
		assert_equal "" "$stderr" "$mode: stderr"
	done
}

@test "bash: a sfexec --list that hangs costs at most about 2 seconds" {
	# A child left holding the pipe too: the whole group must go.
	stub_sfexec 'sleep 30; echo "{\"id\":\"1\",\"key\":\"late\"}"'
	local start=$SECONDS
	comp plain -k ""
	offers_exactly
	((SECONDS - start < 10)) || fail "completion took $((SECONDS - start)) s"
}

@test "bash: after --list only its options, and no command" {
	for mode in "${MODES[@]}"; do
		comp "$mode" --list -
		offers_exactly -d --dir --cache-dir --json -v --verbose -q --quiet \
			-h --help -V --version
		comp "$mode" --list --json ""
		offers_exactly
		comp "$mode" --json -
		offers_exactly -d --dir --cache-dir --json --list -v --verbose -q \
			--quiet -h --help -V --version
		comp "$mode" --list ec
		offers_exactly
	done
}

@test "bash: --forget and --cancel offer their own options; a run's rule them out" {
	for mode in "${MODES[@]}"; do
		comp "$mode" --cancel -
		offers_exactly -k --key -d --dir --grace --key-env --key-file -v \
			--verbose -q --quiet -h --help -V --version --
		comp "$mode" --forget --
		offers_exactly --key --dir --cache-dir --key-env --key-file --verbose \
			--quiet --help --version --
		comp "$mode" --ttl 5 --
		offers_none_of --list --forget --cancel --json
		offers --refresh --key --
		comp "$mode" -n --
		offers_none_of --list --forget --cancel --json
		comp "$mode" --l
		offers_exactly --list --lease
		comp "$mode" --ca
		offers_exactly --cache-failures --cache-dir --cancel
		comp "$mode" --forget -k foo ec               # a command names the key
		offers echo
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

# zcomp LINE: the matches zsh offers for LINE then Tab, one a line in
# REPLIES, through a real zle in a pty (zsh/zpty): compinit with our
# _sfexec first in fpath, and compadd wrapped to print what it is given.
zcomp() {
	mkdir -p "$T/zdot"
	cat >"$T/zdot/.zshrc" <<-'EOF'
	PROMPT='Z%(?..)P> ' RPROMPT=
	unsetopt prompt_sp
	fpath=($SF_FPATH $fpath)
	autoload -Uz compinit && compinit -u -D -d "$ZDOTDIR/.zcompdump"
	compadd() {
		local -a hits; local m
		builtin compadd -O hits "$@"
		for m in $hits; do print -r -- "HIT<$m>"; done
		builtin compadd "$@"
	}
	comppostfuncs=(sf_done)
	sf_done() { print -r -- END-OF-COMPLETION; exit; }
	bindkey '^I' complete-word
	EOF
	ZDOTDIR=$T/zdot SF_FPATH=$(dirname "$ZSH_SCRIPT") \
	run --separate-stderr timeout 20 zsh -f -c '
		zmodload zsh/zpty || exit 97
		zpty z zsh -d -i
		# zle drops what is typed before it is ready: wait for its prompt
		zpty -r z line "*ZP> " || exit 96
		zpty -w -n z "$1"$'\''\t'\''
		while zpty -r z line; do
			[[ $line == *END-OF-COMPLETION* ]] && break
			[[ $line == *HIT\<* ]] && print -r -- "${${line#*HIT<}%>*}"
		done
		zpty -d z' zcomp "$1"
	[[ $status == 0 ]] || fail "zsh: $1: completion exited $status" "$stderr"
	REPLIES=()
	[[ -z $output ]] || mapfile -t REPLIES <<<"${output//$'\r'/}"
	WHAT="zsh: $1"
}

@test "zsh: -k completes the keys of sfexec --list --json, after --forget and --cancel too" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	mkdir -p "$T/run dir"
	stub_sfexec
	zcomp "sfexec -k "
	offers_exactly mirror-sync 'my key' "say \"hi\", it's" a/b $'back\\slash \xff'
	zcomp "sfexec --forget --key=m"
	offers_exactly mirror-sync 'my key'
	zcomp "sfexec --cancel --grace 1 -k m"
	offers_exactly mirror-sync 'my key'
	: >"$T/stub.args"
	zcomp "sfexec -d ${T// /\\ }/run\\ dir --cache-dir=$T -vk m"
	offers_exactly mirror-sync 'my key'
	assert_equal "--list --json -d $(printf %q "$T/run dir") --cache-dir $(printf %q "$T") " \
		"$(cat "$T/stub.args")" "stub call"
}

@test "zsh: after --list no command and none of a run's options" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	zcomp "sfexec --list --"
	offers --json --dir --cache-dir
	offers_none_of --key --ttl --forget --cancel --grace --no-wait
	zcomp "sfexec --list --json ec"
	offers_exactly
	zcomp "sfexec --ttl 5 --"
	offers_none_of --list --json --forget --cancel
}

@test "zsh: the fleet's options only for a run; their values are stepped over for -k" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	zcomp "sfexec --redis"
	offers --redis --redis-prefix --redis-optional --redis-max-bytes
	offers_none_of --refresh --lease
	zcomp "sfexec --list --"
	offers_none_of --redis --redis-prefix --lease --redis-optional --redis-max-bytes
	zcomp "sfexec --cancel --"
	offers_none_of --redis --redis-prefix --lease --redis-optional --redis-max-bytes
	zcomp "sfexec --lease 5 --"
	offers_none_of --list --json --forget --cancel
	offers --redis --redis-max-bytes
	# a value that looks like -d is not one
	stub_sfexec
	zcomp "sfexec --redis-prefix -d --lease -d --redis -d -k m"
	offers_exactly mirror-sync 'my key'
	assert_equal "--list --json " "$(cat "$T/stub.args")" "stub call"
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
