#!/usr/bin/env bash
# Usage: scripts/kernel/guest.sh PROFILE [--selftests DIR]
#
# Builds (or reuses) the profile's kernel with build.sh, then the guest that
# runs on it: the C adapter (static, against the kernel's exported headers and
# iommufd_test.h) and an initramfs of busybox-static + the adapter + /init
# (conformance/kernel/guest/init). With --selftests DIR, every executable in
# DIR is added under /selftests (the initramfs for `kernel selftest`).
# Cached in ~/.cache/iommufd-spec/guests/<profile>-<key>/ (key: kernel build,
# adapter sources, /init, this script, busybox, selftest binaries), holding
#   bzImage (symlink to the kernel), initramfs.cpio.gz, iommufd-adapter
# Prints that directory on stdout; progress on stderr; a failure names its step.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
kernel_script guest "${1:-}" "[--selftests DIR]"
shift
selftests=""
if [ "${1:-}" = "--selftests" ]; then selftests="$(cd "${2:?--selftests needs a directory}" && pwd)"; fi
adapter_src="$repo/conformance/kernel/adapter"
init="$repo/conformance/kernel/guest/init"


step kernel "scripts/kernel/build.sh $profile"
kernel="$(bash "$here/build.sh" "$profile")" || fail "kernel build failed"

busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1 || fail "no $busybox (package busybox-static)"
file -b "$busybox" 2>/dev/null | grep -q 'statically linked' || [ ! -x /usr/bin/file ] \
  || fail "$busybox is not static (install busybox-static)"

key="$( { echo "$profile"; basename "$kernel"; cat "$adapter_src"/*.c "$adapter_src"/*.h "$init" "$0";
          sha256sum "$busybox";
          if [ -n "$selftests" ]; then (cd "$selftests" && sha256sum ./*); fi; } | sha256sum | cut -c1-16)"
out="$cache/guests/$profile-$key"
cached_or_start "$out"

step adapter "gcc -static the C adapter against $kernel/include"
gcc -static -O2 -Wall -Wextra -std=gnu11 -DPROFILE="\"$profile\"" -I"$kernel/include" \
  -o "$tmp/iommufd-adapter" "$adapter_src/adapter.c" "$adapter_src/json.c" >&2 \
  || fail "compiling the adapter"

step initramfs "busybox + adapter + /init${selftests:+ + selftests}"
root="$tmp/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,selftests}
cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list-full); do
  # busybox lists itself too; a symlink bin/busybox -> busybox loops (ELOOP at boot).
  [ "$app" = "bin/busybox" ] && continue
  ln -sf /bin/busybox "$root/$app"
done
cp "$init" "$root/init"
chmod +x "$root/init"
cp "$tmp/iommufd-adapter" "$root/bin/iommufd-adapter"
if [ -n "$selftests" ]; then cp "$selftests"/* "$root/selftests/"; fi
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0 | gzip -n -1 > "$tmp/initramfs.cpio.gz")
rm -rf "$root"
ln -s "$kernel/bzImage" "$tmp/bzImage"
publish
