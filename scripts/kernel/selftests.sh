#!/usr/bin/env bash
# Usage: scripts/kernel/selftests.sh PROFILE
#
# Builds the kernel's own iommufd selftests (tools/testing/selftests/iommu:
# iommufd, iommufd_fail_nth) statically against the profile's exported headers,
# for a smoke run inside the lane's VM (`iommufd-spec kernel selftest`).
#   6.12: Debian's tree ships selftests backported from a newer kernel; the
#         names 6.12 lacks are defined by conformance/kernel/selftest/compat-6.12.h
#         (force-included; no source is edited; see that file for what it weakens).
#   7.3:  needs libcap: libcap-dev and libcap2 are fetched with `apt-get download`
#         and unpacked aside (dpkg-deb -x) into the cache; nothing is installed.
# Cached in ~/.cache/iommufd-spec/selftests/<profile>-<key>/; prints that directory.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kernel_script selftests "${1:-}"
compat="$repo/conformance/kernel/selftest/compat-6.12.h"

step kernel "scripts/kernel/build.sh $profile"
kernel="$(bash "$here/build.sh" "$profile")" || fail "kernel build failed"
src="$(jq -r .source "$kernel/manifest.json" 2>/dev/null || sed -n 's/.*"source":"\([^"]*\)".*/\1/p' "$kernel/manifest.json")"
tests="$src/tools/testing/selftests/iommu"
[ -f "$tests/iommufd.c" ] || fail "no selftests at $tests"

key="$( { basename "$kernel"; cat "$tests"/*.c "$tests"/*.h "$0"; [ "$profile" = 6.12 ] && cat "$compat"; true; } | sha256sum | cut -c1-16)"
out="$cache/selftests/$profile-$key"
cached_or_start "$out"

# The harness bounds each test by 30 s of guest wall-clock time
# (TEST_TIMEOUT_DEFAULT, kselftest_harness.h). Under TCG the guest's speed is
# the CPU share QEMU gets, so on a loaded host that bound fails tests for the
# machine's speed: a force-included header lifts it to a hang guard (no source
# is edited; the include guard makes the tests' own include a no-op).
guard="$tmp/harness-hang-guard.h"
printf '%s\n' '#include "kselftest_harness.h"' '#undef TEST_TIMEOUT_DEFAULT' '#define TEST_TIMEOUT_DEFAULT 600' >"$guard"
cflags=(-static -O2 -Wall -Wno-unused-function -D_GNU_SOURCE -isystem "$kernel/include" -I"$src/tools/testing/selftests")
libs=()
case "$profile" in
  6.12) cflags+=(-include "$compat") ;;
  7.3)
    libcap="$cache/libcap"
    # Two builds (a manual one beside CI's lane) may both find it missing:
    # one downloads and unpacks while the other waits, then finds it there.
    mkdir -p "$cache"
    exec 9>"$cache/libcap.lock"
    flock 9
    if [ ! -f "$libcap/.unpacked" ]; then
      # The look-up needs package lists: packages.sh --lists runs apt-get update
      # first on a machine that has none; stale lists (a version the mirror
      # dropped) get one update and a retry.
      bash "$here/packages.sh" --lists "$profile" || fail "packages.sh --lists"
      step libcap "apt-get download libcap-dev libcap2 (unpacked aside, not installed)"
      rm -rf "$libcap" && mkdir -p "$libcap/debs"
      (cd "$libcap/debs" && apt-get download libcap-dev libcap2 >&2) \
        || { step libcap "apt-get update, then retry"; \
             as_root apt-get update -q >&2; \
             (cd "$libcap/debs" && apt-get download libcap-dev libcap2 >&2); } \
        || fail "apt-get download libcap-dev libcap2"
      for deb in "$libcap"/debs/*.deb; do dpkg-deb -x "$deb" "$libcap/root"; done
      touch "$libcap/.unpacked"
    fi
    flock -u 9
    cflags+=(-I"$libcap/root/usr/include")
    libs+=(-L"$libcap/root/usr/lib/x86_64-linux-gnu" -lcap)
    ;;
esac

cflags+=(-include "$guard")
for t in iommufd iommufd_fail_nth; do
  step compile "$t"
  (cd "$tests" && gcc "${cflags[@]}" -o "$tmp/$t" "$t.c" "${libs[@]}") >&2 || fail "compiling $t"
done
rm "$guard"
publish
