#!/usr/bin/env bash
# Usage: scripts/kernel/build.sh PROFILE        (PROFILE = 6.12 | 7.3)
#
# Builds the profile's kernel (bzImage + exported uAPI headers + the mock
# driver's test-op header) and caches it outside the repo in
#   ~/.cache/iommufd-spec/kernels/<profile>-<key>/
# where <key> hashes the config fragment, this script, the compiler version and
# the Debian source package version, so a rebuild happens when one of them
# changes; a cached build is reused in about a second. Prints the cache
# directory on stdout.
#
# Steps (progress on stderr, a failure names its step):
#   packages -> source -> config -> check-config -> bzImage -> headers -> publish
# The object tree is one per profile, ~/.cache/iommufd-spec/build/<profile>/
# (make O=), so the shared unpacked source tree stays clean, a failed build
# resumes, and a changed config rebuilds only what it affects (kbuild tracks
# which CONFIG_ options each file uses); a lock serializes builds of a profile.
# Cold, the bzImage step takes ≈3–4 min on 2 idle cores and ≈8–16 min when
# other work keeps them busy (measured: conformance/kernel/README.md).
# Environment: IOMMUFD_SPEC_CACHE (cache root), IOMMUFD_SPEC_JOBS (make -j, default 2).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kernel_script kernel "${1:-}"
jobs="${IOMMUFD_SPEC_JOBS:-2}"
fragment="$repo/conformance/kernel/config/$profile.fragment"

# -- packages: install what a fresh Debian machine lacks ----------------------
step packages "scripts/kernel/packages.sh $profile"
bash "$here/packages.sh" "$profile" || fail "packages.sh failed"

# -- source ----------------------------------------------------------------
step source "scripts/kernel/source.sh $profile"
src="$(bash "$here/source.sh" "$profile")" || fail "source.sh failed"
[ -f "$src/Makefile" ] || fail "no kernel tree at '$src'"
case "$profile" in
  6.12) version="$(dpkg-query -W -f='${Version}' linux-source-6.12)" ;;
  7.3)  deb="$(ls -t "$cache"/debs/linux-source-7.3_*.deb | head -n1)"; version="$(dpkg-deb -f "$deb" Version)" ;;
esac
[ -n "$version" ] || fail "could not determine the source package version"
[ -f "$fragment" ] || fail "missing config fragment $fragment"

key="$( { echo "$profile $version"; gcc --version | head -n1; cat "$fragment" "$0"; } | sha256sum | cut -c1-16)"
out="$cache/kernels/$profile-$key"
obj="$cache/build/$profile"
if [ -f "$out/.complete" ]; then
  step cached "$out"
  echo "$out"
  exit 0
fi
mkdir -p "$obj" "$cache/kernels"
exec 9>"$obj.lock"
if ! flock -n 9; then
  step wait "another build of $profile holds $obj.lock; waiting for it"
  flock 9 # one build per profile at a time (a second caller waits, then reuses)
fi
if [ -f "$out/.complete" ]; then step cached "$out"; echo "$out"; exit 0; fi

# -- config: tinyconfig + fragment + olddefconfig -------------------------------
# tinyconfig depends only on the source and the compiler: it is kept beside the
# object tree and reused when the fragment changes. The fragment is merged as
# scripts/kconfig/merge_config.sh -m does (each option it names replaces that
# option's line, set or "is not set"), in one awk instead of a few processes
# per option, which took minutes on busy cores.
step config "tinyconfig + $profile.fragment + olddefconfig"
tiny="$obj/tinyconfig-$( { echo "$version"; gcc --version | head -n1; } | sha256sum | cut -c1-12)"
if [ -f "$tiny" ]; then
  cp "$tiny" "$obj/.config"
else
  make -s -C "$src" O="$obj" tinyconfig >&2
  cp "$obj/.config" "$tiny"
fi
awk '
  function option(line) {
    if (match(line, /^CONFIG_[A-Za-z0-9_]+=/)) return substr(line, 1, RLENGTH - 1)
    if (line ~ /^# CONFIG_[A-Za-z0-9_]+ is not set$/) { split(line, w, " "); return w[2] }
    return ""
  }
  FNR == NR { o = option($0); if (o != "") { if (!(o in want)) order[++n] = o; want[o] = $0 } next }
  { o = option($0); if (o == "" || !(o in want)) print }
  END { for (i = 1; i <= n; i++) print want[order[i]] }
' "$fragment" "$obj/.config" >"$obj/.config.merged"
mv "$obj/.config.merged" "$obj/.config"
make -s -C "$src" O="$obj" olddefconfig >&2

step check-config "every option of the fragment must hold after olddefconfig"
lost="$(awk '
  FNR == NR {
    if ($0 ~ /^CONFIG_[A-Za-z0-9_]+=y$/) { sub(/=y$/, ""); want_set[$0] = 1 }
    else if ($0 ~ /^# CONFIG_[A-Za-z0-9_]+ is not set$/) want_unset[$2] = 1
    next
  }
  /^CONFIG_[A-Za-z0-9_]+=y$/ { sub(/=y$/, ""); have[$0] = 1 }
  END {
    for (o in want_set) if (!(o in have)) printf " %s", o
    for (o in want_unset) if (o in have) printf " %s (should be unset)", o
  }
' "$fragment" "$obj/.config")"
if [ -n "$lost" ]; then
  fail "options did not stick after olddefconfig (a dependency is missing from the fragment):$lost"
fi

# -- build -------------------------------------------------------------------
step bzImage "make -j$jobs bzImage (cold ≈3–4 min on 2 idle cores, ≈8–16 min on busy ones; a changed config rebuilds only what it touches)"
log="$obj/build.log"
# Wall and CPU time of the make (the CPU time does not depend on the load).
TIMEFORMAT='%R %U %S'
if ! { time make -C "$src" O="$obj" -j"$jobs" bzImage >"$log" 2>&1; } 2>"$obj/make.time"; then
  tail -n 30 "$log" >&2
  fail "make bzImage (full log: $log)"
fi
read -r make_wall make_user make_sys <"$obj/make.time"
make_cpu="$(awk -v u="$make_user" -v s="$make_sys" 'BEGIN { printf "%.0f", u + s }')"
make_wall="${make_wall%.*}"
step bzImage "built in ${make_wall} s (${make_cpu} CPU-seconds)"

step headers "make headers_install"
make -s -C "$src" O="$obj" headers_install >&2

# -- publish -------------------------------------------------------------------
step publish "$out"
tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/include"
cp "$obj/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$obj/.config" "$tmp/config"
cp -r "$obj/usr/include/." "$tmp/include/"
cp "$src/drivers/iommu/iommufd/iommufd_test.h" "$tmp/include/iommufd_test.h"
release="$(make -s -C "$src" O="$obj" kernelrelease 2>/dev/null)"
cat >"$tmp/manifest.json" <<EOF
{"profile":"$profile","sourcePackageVersion":"$version","kernelRelease":"$release","key":"$key","source":"$src","buildSeconds":$(( $(date +%s) - t_start )),"makeSeconds":$make_wall,"makeCpuSeconds":$make_cpu,"jobs":$jobs}
EOF
touch "$tmp/.complete"
rm -rf "$out"
mv "$tmp" "$out"
step done "$out"
echo "$out"
