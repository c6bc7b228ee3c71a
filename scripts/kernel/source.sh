#!/usr/bin/env bash
# Usage: scripts/kernel/source.sh PROFILE     (PROFILE = 6.12 | 7.3)
#
# Gets the Debian kernel source package of a profile and unpacks it into the
# cache (outside the repo), printing the unpacked tree's path on stdout.
#   6.12 = linux-source-6.12 from bookworm (the machine's own apt sources)
#   7.3  = linux-source-7.3 from trixie-backports, downloaded through a private
#          source list; the machine's apt configuration is never changed.
# Progress goes to stderr; a failure names the step.
set -euo pipefail

profile="${1:-}"
cache="${IOMMUFD_SPEC_CACHE:-$HOME/.cache/iommufd-spec}"
step() { printf '[source %s] %s\n' "$profile" "$*" >&2; }
fail() { printf 'source.sh: %s failed for profile %s: %s\n' "$CURRENT_STEP" "$profile" "$1" >&2; exit 1; }
CURRENT_STEP=arguments
case "$profile" in
  6.12|7.3) ;;
  *) echo "usage: $0 6.12|7.3 (got '${profile}')" >&2; exit 2 ;;
esac

tree="$cache/src/$profile/linux-source-$profile"
if [ -f "$tree/.unpacked" ]; then
  echo "$tree"
  exit 0
fi
mkdir -p "$cache/src/$profile" "$cache/debs"

case "$profile" in
  6.12)
    tarball=/usr/src/linux-source-6.12.tar.xz
    if [ ! -f "$tarball" ]; then
      CURRENT_STEP="scripts/kernel/packages.sh 6.12 (linux-source-6.12)"
      step "$CURRENT_STEP"
      bash "$(dirname "${BASH_SOURCE[0]}")/packages.sh" 6.12 || fail "packages.sh"
    fi
    ;;
  7.3)
    tarball="$cache/debs/7.3/usr/src/linux-source-7.3.tar.xz"
    if [ ! -f "$tarball" ]; then
      CURRENT_STEP="private apt download of linux-source-7.3 (trixie-backports)"
      step "$CURRENT_STEP"
      apt_dir="$cache/apt-trixie-backports"
      mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main" > "$apt_dir/sources.list"
      opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
            -o APT::Get::List-Cleanup=0)
      apt-get "${opts[@]}" update -q >&2 || fail "apt-get update with the private source list"
      (cd "$cache/debs" && apt-get "${opts[@]}" download linux-source-7.3 >&2) || fail "apt-get download"
      deb=$(ls -t "$cache"/debs/linux-source-7.3_*.deb | head -n1)
      CURRENT_STEP="dpkg-deb -x $deb"
      step "$CURRENT_STEP"
      rm -rf "$cache/debs/7.3" && dpkg-deb -x "$deb" "$cache/debs/7.3" || fail "dpkg-deb"
    fi
    ;;
esac

CURRENT_STEP="unpack $tarball"
step "$CURRENT_STEP (≈10 s idle, ≈30–60 s on busy cores)"
rm -rf "$cache/src/$profile/linux-source-$profile"
tar -xJf "$tarball" -C "$cache/src/$profile" || fail "tar"
[ -d "$tree" ] || fail "expected $tree after unpacking"
touch "$tree/.unpacked"
echo "$tree"
