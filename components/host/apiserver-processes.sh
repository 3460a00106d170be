#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2034 # the arrays are read by the script that includes this file
# The running kube-apiserver processes and when each started, shared by the audit policy roll-out (which
# accepts only an API server started after the policy was written) and verify (which reports it): the
# renderer puts the text below "# @begin" where a script has its
# "# @include components/host/apiserver-processes.sh" line.

# @begin

# kube_apiserver_processes PROC: sets kube_apiserver_pid and kube_apiserver_start, one entry per process
# named kube-apiserver under PROC (/proc on a node, a directory in tests): its pid and its start time in
# clock ticks since boot (starttime, field 22 of /proc/PID/stat). A process that ends while it is read is
# left out.
kube_apiserver_processes() {
  local comm_file comm pid stat rest fields=()
  kube_apiserver_pid=()
  kube_apiserver_start=()
  for comm_file in "$1"/[0-9]*/comm; do
    { read -r comm <"$comm_file"; } 2>/dev/null || continue
    [ "$comm" = kube-apiserver ] || continue
    pid=${comm_file%/comm}
    pid=${pid##*/}
    { read -r stat <"$1/$pid/stat"; } 2>/dev/null || continue
    # Fields after the command name, which is in parentheses and may hold spaces: field 3 onwards, so
    # starttime is the 20th of them.
    rest=${stat##*) }
    read -r -a fields <<<"$rest"
    kube_apiserver_pid+=("$pid")
    kube_apiserver_start+=("${fields[19]:-}")
  done
}
