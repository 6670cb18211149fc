#!/usr/bin/env bash
# Installs the Debian packages the tests need, listed one a line in
# scripts/system-packages.txt (`#` starts a comment), and only those missing: `make test`
# and .ci/run call it first, so the README's test command works on a fresh machine.
# As root (or with password-less sudo) it runs `apt-get update` once and installs them;
# otherwise it names what is missing and the command that installs it, and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

list=scripts/system-packages.txt
packages=()
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%%#*}
  line=$(echo "$line" | tr -d '[:space:]')
  if [ -n "$line" ]; then packages+=("$line"); fi
done <"$list"

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system packages: not a Debian system; make sure these (Debian names) are installed:" \
    "${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo)
else
  echo "system packages: the tests need ${missing[*]} (from $list), which are not installed," \
    "and installing them needs root. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
