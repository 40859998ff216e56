#!/bin/bash
# Runs the project's lab scenarios on a real Xen host booted under QEMU by
# ../shared/xenlab (found beside the checkout, or at $XENLAB), with tsxenstored
# from this checkout (built: npm run build) as dom0's only xenstored.
#   lab/run.sh [SCENARIO...]     (default: guests survive)
# Prints each run's LAB lines; exits non-zero if any scenario fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
XENLAB=${XENLAB:-$(cd "$root/../shared/xenlab" 2>/dev/null && pwd)}
[ -x "$XENLAB/run.sh" ] || { echo "lab: no xenlab at ${XENLAB:-../shared/xenlab}"; exit 2; }
[ -f "$root/dist/src/cli/tsxenstored.js" ] && [ -f "$root/native/build/Release/xsxen.node" ] || { echo "lab: build first (npm run build)"; exit 2; }
export XENLAB_ACCEL=${XENLAB_ACCEL:-tcg}   # KVM cannot run Xen here; trying it costs a boot
export XENLAB_CACHE=${XENLAB_CACHE:-/tmp/xenlab-cache}
export XENLAB_TIMEOUT=${XENLAB_TIMEOUT:-1500}
export XENLAB_XENSTORED=$here/tsxenstored-dom0
"$XENLAB/prepare.sh" >/dev/null || { echo "lab: xenlab's prepare.sh failed (see $XENLAB_CACHE/apt.log)"; exit 2; }
# The lab guests' image: xenlab's guest image with lab/guest-init as /init.
g=$(mktemp -d); trap 'rm -rf "$g"' EXIT
cp -a "$XENLAB_CACHE/gird/." "$g/" && install -m 755 "$here/guest-init" "$g/init"
(cd "$g" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$XENLAB_CACHE/tsxs-guest.cpio.gz")
status=0; passed=0; failed=0
for s in "${@:-guests survive}"; do
  for name in $s; do
    echo "=== lab scenario $name"
    t0=$(date +%s)
    if "$XENLAB/run.sh" "$here/$name.sh"; then r=PASS; else r=FAIL; status=1; fi
    log=$(ls -t "$XENLAB_CACHE"/serial-*.log | head -1)
    grep -a -E '^(LAB|GUEST)' "$log" | tr -d '\r'
    p=$(grep -a -c '^LAB \[[0-9.]*s\]: ok ' "$log"); f=$(grep -a -c '^LAB \[[0-9.]*s\]: FAIL ' "$log")
    [ "$r" = FAIL ] && [ "$f" = 0 ] && f=1   # it died before its checks could say so
    passed=$((passed + p)); failed=$((failed + f))
    echo "=== lab scenario $name: $r in $(( $(date +%s) - t0 )) s (serial log $log)"
  done
done
echo "lab: $passed passed, $failed failed"
exit $status
