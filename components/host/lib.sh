#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # pending_tmp is declared by the script that includes this library
# Shell functions shared by the host preparation and the audit policy roll-out: the renderer puts
# the text below "# @begin" where a script has its "# @include components/host/lib.sh" line.
#
# write_file PATH MODE CONTENT replaces a file atomically: a temp file in the same directory, then
# rename(2) by mv, so no reader (RKE2, systemd-sysctl) ever sees a half-written file and a failed
# run leaves the old file intact. Nothing is ever appended to. Every external command costs a fork
# and an exec (about 30 ms each on an emulated host), so the common paths use builtins.

# @begin

# content_matches PATH CONTENT: a regular file (not a symlink) holding exactly CONTENT.
content_matches() {
  local current=''
  if [ ! -f "$1" ] || [ -L "$1" ]; then return 1; fi
  # read returns 1 at the end of the file; 0 means it stopped at a NUL byte: not our content.
  if IFS= read -r -d '' current <"$1"; then return 1; fi
  [ "$current" = "$2" ]
}

# owned_with_mode PATH MODE: owned by root:root with exactly MODE (octal, e.g. 0600).
owned_with_mode() {
  [ "$(stat -c '%a %u %g' -- "$1")" = "${2#0} 0 0" ]
}

# replace_file PATH MODE CONTENT: temp file in the same directory, created with MODE, then rename(2).
replace_file() {
  local mask
  printf -v mask '%04o' $((0777 & ~8#$2))
  pending_tmp="${1%/*}/.${1##*/}.hardened-rke2.$$.$RANDOM"
  umask "$mask"
  set -C # noclobber: the temp file is created with O_EXCL, never an existing file or link
  printf '%s' "$3" >"$pending_tmp"
  set +C
  umask 077
  if [ ! -O "$pending_tmp" ] || [ ! -G "$pending_tmp" ]; then chown root:root -- "$pending_tmp"; fi
  mv -f -- "$pending_tmp" "$1"
  pending_tmp=''
}

# write_file PATH MODE CONTENT: replace unless current; one line of output either way.
write_file() {
  local name=${1##*/}
  if ! content_matches "$1" "$3"; then
    replace_file "$@"
    echo "$name: written"
  elif owned_with_mode "$1" "$2"; then
    echo "$name: unchanged"
  else
    chown root:root -- "$1"
    chmod "$2" -- "$1"
    echo "$name: owner and mode fixed"
  fi
}

# ensure_rke2_config_dir: /etc/rancher/rke2 as current RKE2 creates it (0700: it holds RKE2's
# config and admin kubeconfig); an existing one is left as it is.
ensure_rke2_config_dir() {
  if [ ! -d /etc/rancher/rke2 ]; then
    [ -d /etc/rancher ] || mkdir -m 0755 /etc/rancher
    mkdir -m 0700 /etc/rancher/rke2
  fi
}

# elapsed_since STARTED: " in S.mmm s" from bash 5's EPOCHREALTIME (no fork), empty on bash 4.
elapsed_since() {
  local ms
  if [ -n "$1" ] && [ -n "${EPOCHREALTIME:-}" ]; then
    ms=$(((${EPOCHREALTIME/[.,]/} - ${1/[.,]/}) / 1000))
    printf ' in %d.%03d s' $((ms / 1000)) $((ms % 1000))
  fi
}
