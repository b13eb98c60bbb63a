# Shell helpers shared by launch/tpu_vm.sh and launch/gpu.sh (sourced).
# shellcheck shell=bash

# A usage error: one line on stderr, exit status 2.
die() {
  echo "error: $*" >&2
  exit 2
}

# Single-quotes one argument for a shell unless it is plainly safe;
# --flag=VALUE keeps --flag= outside the quotes for readability.
quote() {
  local arg=$1
  if [[ $arg =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
    printf '%s' "$arg"
  elif [[ $arg =~ ^(--[A-Za-z0-9_.-]+=)(.*)$ ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
    squote "${BASH_REMATCH[2]}"
  else
    squote "$arg"
  fi
}
squote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}
# The whole command line, each argument quoted.
quote_all() {
  local out="" arg
  for arg in "$@"; do
    out+="${out:+ }$(quote "$arg")"
  done
  printf '%s' "$out"
}

# One flag that takes a value, --flag=VALUE or --flag VALUE (then the value
# is the next argument): checked against the script's VALUE_FLAGS and
# SWITCHES and given to its set_value. Sets `consumed` to the arguments used.
# shellcheck disable=SC2034  # consumed is read by the caller
value_flag() {
  local arg=$1
  if [[ $arg == --*=* ]]; then
    local flag=${arg%%=*}
    [[ $SWITCHES != *" $flag "* ]] || die "$flag takes no value; got $arg"
    set_value "$flag" "${arg#*=}"
    consumed=1
  else
    [[ $VALUE_FLAGS == *" $arg "* ]] || die "unknown flag $arg (see --help)"
    if (($# < 2)) || [[ $2 == --* ]]; then die "$arg needs a value (see --help)"; fi
    set_value "$arg" "$2"
    consumed=2
  fi
}
