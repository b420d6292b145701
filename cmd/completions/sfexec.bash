# bash completion for sfexec(1)                              -*- shell-script -*-
#
# Installed as $(PREFIX)/share/bash-completion/completions/sfexec.  Works on
# its own; with the bash-completion package loaded it also hands the
# command's words to that command's completion, as sudo's and timeout's do.
#
# Options are those of cmd/options.c, and only before the first word that is
# not one (getopt_long with "+"): `sfexec -k K ls -d /t` completes ls's -d.
# Once the line says what it does (--list, --forget, --cancel, or an option
# only a run takes), only the options of that mode are offered, as
# options.c refuses the others.  A key completes from `sfexec --list --json`.

# The long options (those that take a value: _sfexec_takes).
_sfexec_longs='--key --dir --no-wait --wait-timeout --grace --verbose --quiet
	--help --version --ttl --stale-while-revalidate --stale-if-error
	--cache-failures --refresh --cache-dir --key-env --key-file
	--list --json --forget --cancel --redis --redis-prefix --lease
	--redis-optional --redis-max-bytes'

# _sfexec_takes LONG: true if option LONG takes a value.
_sfexec_takes()
{
	case $1 in
	--key | --dir | --wait-timeout | --grace | --ttl | --stale-while-revalidate | \
	    --stale-if-error | --cache-dir | --key-env | --key-file | --redis | \
	    --redis-prefix | --lease | --redis-max-bytes) return 0 ;;
	esac
	return 1
}

# _sfexec_modes OPTION: set the caller's `modes` to the modes OPTION may be
# used in, as bits: 1 a run, 2 --list, 4 --forget, 8 --cancel (modes_of in
# cmd/options.c).  A mode's own option is that mode's bit.
_sfexec_modes()
{
	case $1 in
	-d | --dir | -v | --verbose | -q | --quiet | -h | --help | -V | --version)
		modes=15 ;;
	-k | --key | --key-env | --key-file) modes=13 ;;
	--cache-dir) modes=7 ;;
	--grace) modes=9 ;;
	--json | --list) modes=2 ;;
	--forget) modes=4 ;;
	--cancel) modes=8 ;;
	*) modes=1 ;;
	esac
}

# _sfexec_long WORD: set the caller's `long` to the option WORD names, as
# getopt_long reads it (an exact name, or a prefix of only one); else empty.
_sfexec_long()
{
	local o n=0
	long=
	for o in $_sfexec_longs; do
		if [[ $o == "$1" ]]; then
			long=$o
			return
		fi
		[[ $o == "$1"* ]] && long=$o && ((n++))
	done
	((n == 1)) || long=
}

# _sfexec_value OPTION CUR [PREFIX]: complete CUR as the value of OPTION.
_sfexec_value()
{
	local cur=$2
	case $1 in
	-d | --dir | --cache-dir)
		compopt -o filenames 2>/dev/null
		if [[ -z $3 ]] && declare -F _filedir >/dev/null; then
			_filedir -d
		else
			mapfile -t COMPREPLY < <(compgen -d -P "$3" -- "$cur")
		fi
		;;
	--key-file)
		compopt -o filenames 2>/dev/null
		if [[ -z $3 ]] && declare -F _filedir >/dev/null; then
			_filedir
		else
			mapfile -t COMPREPLY < <(compgen -f -P "$3" -- "$cur")
		fi
		;;
	--key-env)
		mapfile -t COMPREPLY < <(compgen -e -P "$3" -- "$cur")
		;;
	-k | --key)
		_sfexec_keys "$cur" "$3"
		;;
	esac
	# -w, --wait-timeout, --grace, --ttl, the windows, --lease, the
	# Redis URL, prefix and size: nothing.
}

# _sfexec_dequote WORD: set REPLY to WORD as the shell would read it (its
# quotes, backslashes and a leading tilde), or fail when WORD is not one
# whole word or would expand anything: completing must never run what the
# line would.
_sfexec_dequote()
{
	local -
	set -f
	REPLY=
	[[ $1 == *[\$\`\(\)\;\&\|\<\>$'\n']* ]] && return 1
	local -a _sfexec_w
	eval "_sfexec_w=($1)" 2>/dev/null || return 1
	((${#_sfexec_w[@]} == 1)) || return 1
	REPLY=${_sfexec_w[0]}
}

# _sfexec_unjson TEXT: set REPLY to the JSON string body TEXT decoded, or
# fail for an escape other than \" \\ \/ (a control character in a key:
# nothing one completes).
_sfexec_unjson()
{
	local s=$1 out=
	REPLY=
	while [[ $s == *\\* ]]; do
		out+=${s%%\\*}
		s=${s#*\\}
		case ${s:0:1} in
		\" | \\ | /) out+=${s:0:1} ;;
		*) return 1 ;;
		esac
		s=${s:1}
	done
	REPLY=$out$s
}

# _sfexec_keys CUR [PREFIX]: complete CUR as a key that `sfexec --list
# --json` shows, in the directories given on the line (_sfexec_dirargs).
# The list's text has two layers: JSON's escapes, then sfexec's own (a
# backslash doubled, a byte that is not UTF-8 as \xNN), which printf %b
# undoes.  Bounded by timeout(1), which kills its whole process group
# (hence not --foreground): neither a stuck runner nor anything left
# holding the pipe may hang the shell.
_sfexec_keys()
{
	local cur=$1 cmd=${COMP_WORDS[0]} re line text key q='' dcur
	local -a keys=() run=()
	re='[{,]"key":"(([^"\\]|\\.)*)"'
	_sfexec_dequote "$cmd" && cmd=$REPLY
	type -P timeout >/dev/null && run=(timeout 2)
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		_sfexec_unjson "${BASH_REMATCH[1]}" || continue
		# a NUL cannot be in a shell word: leave such a key out
		text=${REPLY//\\\\/}
		[[ $text == *'\x00'* ]] && continue
		printf -v key %b "$REPLY"
		keys+=("$key")
	done < <("${run[@]}" "$cmd" --list --json "${_sfexec_dirargs[@]}" \
		</dev/null 2>/dev/null)

	# Readline inserts a match as it is (closing an opening quote): quote
	# it here for where it lands.
	case $cur in
	\'*) q=\' dcur=${cur#\'} ;;
	\"*) q=\" dcur=${cur#\"} ;;
	*) _sfexec_dequote "$cur" && dcur=$REPLY || dcur=$cur ;;
	esac
	for key in "${keys[@]}"; do
		[[ $key == "$dcur"* ]] || continue
		case $q in
		'') printf -v key %q "$key" ;;
		\") key=${key//\\/\\\\} key=${key//\"/\\\"}
			key=${key//\$/\\\$} key=${key//\`/\\\`} ;;
		\') key=${key//\'/\'\\\'\'} ;;
		esac
		COMPREPLY+=("${2-}$key")
	done
}

# _sfexec_command N: complete words N.. as a command line of their own.
_sfexec_command()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	if declare -F _comp_command_offset >/dev/null; then
		_comp_command_offset "$1"
	elif declare -F _command_offset >/dev/null; then
		_command_offset "$1"
	elif ((COMP_CWORD == $1)); then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
	else
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

# _sfexec_given OPTION VALUE: note a -d or --cache-dir value for the
# --list that completes keys.  One the shell would expand is left out.
_sfexec_given()
{
	case $1 in
	-d | --dir | --cache-dir)
		_sfexec_dequote "$2" && _sfexec_dirargs+=("$1" "$REPLY") ;;
	esac
}

# _sfexec_options CUR: the options that fit the line so far (`allowed`,
# `mode`), then "--" if a command may follow.
_sfexec_options()
{
	local o modes
	local -a offer=()
	for o in -k -d -n -w -v -q -h -V $_sfexec_longs; do
		_sfexec_modes "$o"
		case $o in
		--list | --forget | --cancel) [[ -z $mode ]] || continue ;;
		esac
		((modes & allowed)) && offer+=("$o")
	done
	((allowed & 13)) && offer+=(--)
	mapfile -t COMPREPLY < <(compgen -W "${offer[*]}" -- "$1")
}

_sfexec()
{
	local cur=${COMP_WORDS[COMP_CWORD]} w long need='' i=1 j c modes
	local allowed=15 mode=''
	local -a _sfexec_dirargs=()
	COMPREPLY=()
	# Walk the words before the cursor as sfexec parses them.
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		if [[ -n $need ]]; then
			_sfexec_given "$need" "$w"
			need=
		elif [[ $w == -- ]]; then
			((allowed & 13)) && _sfexec_command $((i + 1))
			return
		elif [[ $w == --?* ]]; then
			_sfexec_long "${w%%=*}"
			_sfexec_modes "$long"
			((allowed &= modes))
			case $long in
			--list | --forget | --cancel) mode=$long ;;
			esac
			if [[ $w != *=* && ${COMP_WORDS[i + 1]-} == = ]]; then
				# bash split "--opt=value" at "=" (COMP_WORDBREAKS)
				((i++))
				need=${long:-?}
			elif [[ $w == *=* ]]; then
				_sfexec_given "$long" "${w#*=}"
			elif _sfexec_takes "$long"; then
				need=$long
			fi
		elif [[ $w == -?* ]]; then
			# a cluster of short options: "+:k:d:nw:vqhV"
			for ((j = 1; j < ${#w}; j++)); do
				c=${w:j:1}
				_sfexec_modes "-$c"
				((allowed &= modes))
				if [[ $c == [kdw] ]]; then
					if ((j + 1 == ${#w})); then
						need=-$c
					else
						_sfexec_given "-$c" "${w:j+1}"
					fi
					break
				fi
			done
		else
			# --list takes no command: nothing to offer after it
			((allowed & 13)) && _sfexec_command "$i"
			return
		fi
		((i++))
	done

	if [[ -n $need ]]; then
		# cursor on the "=" of "--opt=": the value is empty so far
		[[ $cur == = && ${COMP_WORDS[COMP_CWORD - 1]} == --* ]] && cur=
		_sfexec_value "$need" "$cur"
	elif [[ $cur == --?*=* ]]; then
		# "--opt=value" in one word: "=" is not in COMP_WORDBREAKS
		_sfexec_long "${cur%%=*}"
		[[ -n $long ]] && _sfexec_value "$long" "${cur#*=}" "${cur%%=*}="
	elif [[ $cur =~ ^(-[^-kdw]*([kdw]))(.+)$ ]]; then
		# "-kVALUE", "-nd/tm": the first of k, d, w takes the rest
		_sfexec_value "-${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" \
			"${BASH_REMATCH[1]}"
	elif [[ $cur == -* ]]; then
		_sfexec_options "$cur"
	elif ((allowed & 13)); then
		_sfexec_command "$COMP_CWORD"
	fi
} &&
	complete -F _sfexec sfexec

# ex: filetype=sh
