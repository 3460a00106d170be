#!/usr/bin/env bash
# shellcheck shell=bash
# shellcheck disable=SC2034 # pending_tmp is read by the trap and set by replace_file in lib.sh
# The start every script that changes a node shares (host preparation, the audit policy roll-out):
# the renderer puts the text below "# @begin" where the script has its
# "# @include components/host/head.sh" line, before its values and before anything runs.
#
# Strict mode, a PATH that finds the system tools whatever the SSH session brought, the C locale
# (byte-wise comparisons and sorting, as systemd-sysctl and procps order sysctl.d files), files
# created private, and a half-written temp file of replace_file never left behind.

# @begin
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 077
pending_tmp=''
trap '[ -z "$pending_tmp" ] || rm -f -- "$pending_tmp"' EXIT
