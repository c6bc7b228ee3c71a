# Sourced by the kernel scripts (build.sh, guest.sh, selftests.sh) after
# `set -euo pipefail`. Sets here/repo/cache; `kernel_script TAG PROFILE [EXTRA]`
# checks the profile and starts step reporting: `step NAME [DETAIL]` prints
# progress on stderr, `fail MESSAGE` names the failed step and exits 1, and a
# failing command fails the current step.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${IOMMUFD_SPEC_CACHE:-$HOME/.cache/iommufd-spec}"

kernel_script() {
  script_tag="$1"
  profile="$2"
  case "$profile" in
    6.12|7.3) ;;
    *) echo "usage: $0 6.12|7.3${3:+ $3} (got '${profile}')" >&2; exit 2 ;;
  esac
  t_start=$(date +%s)
  CURRENT_STEP=start
  trap 'fail "command exited with status $? (see the output above)"' ERR
}
step() { CURRENT_STEP="$1"; printf '[%s %s] %s: %s (%ss)\n' "$script_tag" "$profile" "$1" "${2:-}" "$(( $(date +%s) - t_start ))" >&2; }
fail() { printf '%s: step "%s" failed for profile %s: %s\n' "$(basename "$0")" "$CURRENT_STEP" "$profile" "$1" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# A cached result directory: if `$1` is complete, report it, print it and exit;
# otherwise start a scratch directory `$tmp` beside it (published by `publish`).
cached_or_start() {
  out="$1"
  if [ -f "$out/.complete" ]; then
    step cached "$out"
    echo "$out"
    exit 0
  fi
  tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
}

# Publishes `$tmp` as `$out` and prints it; another run may have published the
# same key meanwhile: keep the first.
publish() {
  touch "$tmp/.complete"
  if [ -f "$out/.complete" ]; then rm -rf "$tmp"; else rm -rf "$out"; mv -T "$tmp" "$out"; fi
  step done "$out"
  echo "$out"
}
