#!/usr/bin/env bash
# Usage: scripts/kernel/packages.sh [--lists] [PROFILE...]
#
# Installs the Debian packages the kernel lanes need and this machine lacks,
# in one apt-get call: build tools (rsync: make headers_install), QEMU, busybox-static, and for profile 6.12
# its source package (linux-source-6.12). Nothing is installed when all are
# present (a dpkg-query, well under a second).
#   - `apt-get update` runs before the first look-up: whenever something is
#     missing, and with --lists whenever this machine has no package lists yet
#     (a fresh image ships none; selftests.sh needs them for `apt-get download`).
#   - No recommends: qemu-system-x86 alone pulls 177 packages / 166 MB with
#     them (GUI, firmware, block drivers the lanes never use).
#   - Serialized with flock: both profiles' builds may call it at once, and
#     dpkg allows one writer.
# Progress on stderr; nothing on stdout; a failure names its step.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
lists=0
profiles=()
for arg in "$@"; do
  case "$arg" in
    --lists) lists=1 ;;
    6.12|7.3) profiles+=("$arg") ;;
    *) echo "usage: $0 [--lists] [6.12|7.3]... (got '$arg')" >&2; exit 2 ;;
  esac
done
script_tag=packages
profile="${profiles[*]:-any}"
t_start=$(date +%s)
CURRENT_STEP=start
trap 'fail "command exited with status $? (see the output above)"' ERR

need=(build-essential bc flex bison libelf-dev libssl-dev cpio rsync busybox-static qemu-system-x86 xz-utils)
for p in "${profiles[@]}"; do
  [ "$p" = 6.12 ] && need+=(linux-source-6.12)
done

apt_get() { as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
have_lists() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

mkdir -p "$cache"
exec 8>"$cache/packages.lock"
flock 8

# One dpkg-query for all (a package it does not know is missing too). It exits
# 1 when any is unknown, as on a fresh machine: not a failure here (pipefail).
installed=" $( { dpkg-query -W -f='${Package} ${Status}\n' "${need[@]}" 2>/dev/null || true; } | awk '$4 == "installed" {printf "%s ", $1}')"
missing=()
for p in "${need[@]}"; do
  [[ "$installed" == *" $p "* ]] || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || { [ "$lists" = 1 ] && ! have_lists; }; then
  step apt-update "apt-get update (before any package look-up)"
  apt_get update -q >&2 || fail "apt-get update"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  step apt-install "apt-get install --no-install-recommends ${missing[*]} (≈1 min on a fresh machine)"
  apt_get install -y -q --no-install-recommends "${missing[@]}" >&2 || fail "could not install ${missing[*]}"
fi
step done "${#missing[@]} installed"
