#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2154 # param_names is assigned by the including script's values block
# The order in which kernel parameter files are applied at boot, shared by host preparation (which
# refuses values a later file would undo) and verify (which reports every setting from ours on): the
# renderer puts the text below "# @begin" where a script has its
# "# @include components/host/sysctl-order.sh" line.
#
# systemd-sysctl (and procps' sysctl --system) merges /etc/sysctl.d, /run/sysctl.d,
# /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and /lib/sysctl.d by file name (a name in an earlier
# directory hides, or masks as a link to /dev/null, the same name in later ones), applies the *.conf
# files in byte order of their names (the scripts run with LC_ALL=C), each overriding those before,
# and procps applies /etc/sysctl.conf last. So only names from ours on, and /etc/sysctl.conf, can set
# our parameters after us, and the last to set one wins. Keys may use / for ., and a leading - (ignore
# errors).

# @begin

# each_sysctl_setting ROOT FIRST_NAME CALLBACK: for each setting of a parameter of param_names in the
# files applied at boot from the file name FIRST_NAME on (that name included), in the order they are
# applied, calls CALLBACK FILE INDEX VALUE (INDEX into param_names). ROOT prefixes every path: "" on a
# node, a directory in tests.
each_sysctl_setting() {
  local sysctl_root=$1 first=$2 callback=$3
  local dirs=("$sysctl_root/etc/sysctl.d" "$sysctl_root/run/sysctl.d" "$sysctl_root/usr/local/lib/sysctl.d"
    "$sysctl_root/usr/lib/sysctl.d" "$sysctl_root/lib/sysctl.d")
  local files=() set_in=() set_index=() set_value=() d h file base i j hidden line key value
  for ((d = 0; d < ${#dirs[@]}; d++)); do
    for file in "${dirs[d]}"/*.conf; do
      base=${file##*/}
      [[ "$base" > "$first" || "$base" == "$first" ]] || continue
      [ -f "$file" ] || continue
      hidden=0
      for ((h = 0; h < d; h++)); do
        if [ -e "${dirs[h]}/$base" ] || [ -L "${dirs[h]}/$base" ]; then
          hidden=1
          break
        fi
      done
      [ "$hidden" -eq 1 ] || files+=("$file")
    done
  done
  # Insertion sort by file name (a handful of files): the order in which they are applied.
  for ((i = 1; i < ${#files[@]}; i++)); do
    file=${files[i]}
    for ((j = i - 1; j >= 0; j--)); do
      [[ "${files[j]##*/}" > "${file##*/}" ]] || break
      files[j + 1]=${files[j]}
    done
    files[j + 1]=$file
  done
  if [ -f "$sysctl_root/etc/sysctl.conf" ]; then files+=("$sysctl_root/etc/sysctl.conf"); fi
  for file in ${files[@]+"${files[@]}"}; do
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line#"${line%%[![:space:]]*}"}
      case $line in '' | '#'* | ';'*) continue ;; esac
      [[ "$line" == *=* ]] || continue
      key=${line%%=*}
      key=${key%"${key##*[![:space:]]}"}
      key=${key#-}
      key=${key//\//.}
      value=${line#*=}
      value=${value#"${value%%[![:space:]]*}"}
      value=${value%"${value##*[![:space:]]}"}
      for ((i = 0; i < ${#param_names[@]}; i++)); do
        if [ "$key" = "${param_names[i]}" ]; then
          set_in+=("$file")
          set_index+=("$i")
          set_value+=("$value")
        fi
      done
    done <"$file"
  done
  # Reported once every file is read: the callback never runs with a file open on its input.
  for ((i = 0; i < ${#set_in[@]}; i++)); do
    "$callback" "${set_in[i]}" "${set_index[i]}" "${set_value[i]}"
  done
}
