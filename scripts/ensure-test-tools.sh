#!/usr/bin/env bash
# The unit tests lint every generated shell script with the real shellcheck; a fresh Debian machine
# lacks it, so `npm test` installs it rather than letting the tests fail for a missing tool.
set -euo pipefail

# The policy-pack test starts the pack the way the Pulumi CLI does, from policy/'s own dependencies.
if [ ! -d policy/node_modules ]; then
  echo "Installing the policy pack's dependencies (npm ci in policy/)..." >&2
  npm ci --prefix policy --no-audit --no-fund >/dev/null
fi

if command -v shellcheck >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "shellcheck is required by the tests: install it (Debian: apt-get install -y shellcheck) and run npm test again." >&2
  exit 1
fi

echo "Installing shellcheck (Debian package) for the tests..." >&2
"${as_root[@]}" apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq shellcheck >/dev/null
command -v shellcheck >/dev/null
