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
