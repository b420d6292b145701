# bash completion for sfexec(1)                              -*- shell-script -*-
#
# Installed as $(PREFIX)/share/bash-completion/completions/sfexec.  Works on
# its own; with the bash-completion package loaded it also hands the
# command's words to that command's completion, as sudo's and timeout's do.
#
# Options are those of cmd/options.c, and only before the first word that is
# not one (getopt_long with "+"): `sfexec -k K ls -d /t` completes ls's -d.

# The long options (those that take a value: _sfexec_takes).
_sfexec_longs='--key --dir --no-wait --wait-timeout --grace --verbose --quiet
	--help --version --ttl --stale-while-revalidate --stale-if-error
	--cache-failures --refresh --cache-dir --key-env --key-file'

# _sfexec_takes LONG: true if option LONG takes a value.
_sfexec_takes()
{
	case $1 in
	--key | --dir | --wait-timeout | --grace | --ttl | --stale-while-revalidate | \
	    --stale-if-error | --cache-dir | --key-env | --key-file) return 0 ;;
	esac
	return 1
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
	esac
	# --key, -k, -w, --wait-timeout, --grace, --ttl and the windows: nothing.
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

_sfexec()
{
	local cur=${COMP_WORDS[COMP_CWORD]} w long need='' i=1 j c
	COMPREPLY=()
	# Walk the words before the cursor as sfexec parses them.
	while ((i < COMP_CWORD)); do
		w=${COMP_WORDS[i]}
		if [[ -n $need ]]; then
			need=
		elif [[ $w == -- ]]; then
			_sfexec_command $((i + 1))
			return
		elif [[ $w == --?* ]]; then
			_sfexec_long "${w%%=*}"
			if [[ $w != *=* && ${COMP_WORDS[i + 1]-} == = ]]; then
				# bash split "--opt=value" at "=" (COMP_WORDBREAKS)
				((i++))
				need=${long:-?}
			elif [[ $w != *=* ]] && _sfexec_takes "$long"; then
				need=$long
			fi
		elif [[ $w == -?* ]]; then
			# a cluster of short options: "+:k:d:nw:vqhV"
			for ((j = 1; j < ${#w}; j++)); do
				c=${w:j:1}
				if [[ $c == [kdw] ]]; then
					((j + 1 == ${#w})) && need=-$c
					break
				fi
			done
		else
			_sfexec_command "$i"
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
	elif [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "-k -d -n -w -v -q -h -V $_sfexec_longs --" \
			-- "$cur")
	else
		_sfexec_command "$COMP_CWORD"
	fi
} &&
	complete -F _sfexec sfexec

# ex: filetype=sh
