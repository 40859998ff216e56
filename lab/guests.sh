#!/bin/bash
# Lab scenario "guests" (runs in dom0): tsxenstored as the host's only xenstored,
# with Xen's toolstack, dom0's kernel xenbus and real PV guests.
#  1. dom0: xen-init-dom0, xl list, the kernel xenbus (/dev/xen/xenbus) beside the socket.
#  2. two guests (one with a disk through dom0's xen-blkback): their kernel xenbus
#     comes up, relative paths resolve under the home, they cannot read or write
#     dom0's or each other's nodes, they can once dom0 grants it, their watches fire
#     (every command below travels through one), over-quota writes are refused and the
#     daemon lives on, a flood from one guest leaves the other served.
#  4. a guest whose ring indices are corrupted is cut off; dom0 and the other guest
#     carry on.
#  3. xl shutdown (the guest kernel's orderly poweroff through control/shutdown) and
#     xl destroy: @releaseDomain fires, the domains' nodes and watches are gone, and
#     a new guest works afterwards.
#  5. the disk: the guest reads the signature dom0 wrote and writes to it.
source "$(dirname "$0")/lib.sh"
T0=$(up)
# ---- 1. dom0 --------------------------------------------------------------
# Started the way an admin installs it: Debian's own init script (/etc/init.d/xen,
# start-stop-daemon) with XENSTORED naming tsxenstored in /etc/default/xen. The script
# expects the daemon to fork once ready, write the pid file it names, and answer
# `xenstore-read -s /`; it then runs xen-init-dom0 and xenconsoled. A low node quota,
# so that the quota check below needs a hundred writes, not a thousand. JSON logs and
# the metrics endpoint, as an admin would run it.
cat >/etc/default/xen <<EOF2
XENSTORED=$XSD
XENSTORED_ARGS="--fork --entry-nb 100 --log-file $XSLOG --log-format json --metrics-listen /run/tsxs-metrics.sock"
XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"
EOF2
log "/etc/init.d/xen start, with XENSTORED=$XSD"
timeout 300 /etc/init.d/xen start 2>&1 | sed 's/^/LAB   init: /'
XSPID=$(cat /run/xenstore.pid 2>/dev/null)
check "Xen's init script started tsxenstored, which wrote the pid file it was given" kill -0 "${XSPID:-0}"
[ -n "$XSPID" ] || { tail -n 25 "$XSLOG" | sed 's/^/LAB   | /'; finish FAIL; }
watchdog "$XSPID"
expect "the pid file names the daemon" "*/node" "$(readlink /proc/$XSPID/exe)"
check "the init script's xenconsoled runs" pgrep -x xenconsoled
check "xen-init-dom0" xen-init-dom0
expect "dom0's name" Domain-0 "$(xenstore-read /local/domain/0/name 2>&1)"
expect "xl list shows Domain-0" "Domain-0*" "$(xl list 2>&1 | sed -n 2p)"
# dom0's kernel xenbus: the ring on xsd_kva that tsxenstored attached at start.
check "write through dom0's kernel xenbus" env XENSTORED_PATH=/dev/xen/xenbus timeout 10 xenstore-write /tool/lab/kernel via-xenbus
expect "read back over the socket" via-xenbus "$(xenstore-read /tool/lab/kernel 2>&1)"
expect "read through the kernel xenbus" Domain-0 "$(XENSTORED_PATH=/dev/xen/xenbus timeout 10 xenstore-read /local/domain/0/name 2>&1)"
# Bad input from the toolstack: INTRODUCE of a domain that does not exist is an error
# answer with the reason logged (the grant and the frame cannot be mapped), not a crash.
bad=$(timeout 30 node --input-type=module -e "
  import { connect } from '$LABDIR/../dist/src/index.js';
  const c = await connect();
  try { await c.introduce(999, 1234n, 7); console.log('accepted'); } catch (e) { console.log(e.code ?? e.message); }
  c.close();" 2>&1)
expect "INTRODUCE of a domain that does not exist answers EINVAL" EINVAL "$bad"
check "the reason is logged" grep -q "INTRODUCE 999: cannot map its ring" "$XSLOG"
check "the daemon lives on" kill -0 "$XSPID"
# Xen devices present but unusable: a second daemon cannot bind VIRQ_DOM_EXC. It must
# say so and exit non-zero, not fall back to the simulation or disturb the first.
second=$(timeout 60 node "$LABDIR/../dist/src/cli/tsxenstored.js" --socket /tmp/second.sock 2>&1; echo "exit $?")
expect "a second xenstored on the host says why and exits 2" "*VIRQ_DOM_EXC*exit 2" "$(echo $second)"
expect "the first still serves" Domain-0 "$(xenstore-read /local/domain/0/name 2>&1)"
# logrotate: SIGHUP reopens the log file and kills nothing.
mv "$XSLOG" "$XSLOG.1"
kill -HUP "$XSPID"
check "SIGHUP: the daemon reopened its log file" eventually 30 grep -q "SIGHUP: log file reopened" "$XSLOG"
expect "SIGHUP: the store is intact" via-xenbus "$(xenstore-read /tool/lab/kernel 2>&1)"
release_log /tmp/release.log
xenstore-watch @introduceDomain >/tmp/introduce.log 2>&1 &
eventually 30 test -s /tmp/introduce.log   # fires once when set
released() { wc -l </tmp/release.log; }

# ---- 2. guests ----------------------------------------------------------------
dd if=/dev/zero of=/tmp/disk.img bs=1M count=8 2>/dev/null
printf 'TSXS-DISK-SIG' | dd of=/tmp/disk.img conv=notrunc 2>/dev/null
A=$(new_guest labA "disk = [ 'format=raw,vdev=xvda,access=rw,script=$LABDIR/block-loop,target=/tmp/disk.img' ]")
B=$(new_guest labB)
log "guests: labA is domain $A, labB is domain $B ($(wc -l </tmp/introduce.log) @introduceDomain events)"
[ -n "$A" ] && [ -n "$B" ] || finish FAIL
check "labA's kernel xenbus is up" wait_console labA "GUEST $A: serving"
check "labB's kernel xenbus is up" wait_console labB "GUEST $B: serving"
relay labA; relay labB
check "labA: relative paths resolve under its home" wait_console labA "GUEST $A: relative paths resolve" 5
expect "dom0 sees labB's own write" "world-$B" "$(xenstore-read /local/domain/$B/data/hello 2>&1)"
expect "labA reads its home" "ok world-$A" "$(cmd $A read data/hello)"
expect "labA cannot read dom0's nodes" refused "$(cmd $A read /local/domain/0/name)"
expect "labA cannot write into dom0's tree" refused "$(cmd $A write /local/domain/0/evil x)"
expect "labA cannot read labB's nodes" refused "$(cmd $A read /local/domain/$B/data/hello)"
expect "labB cannot write labA's nodes" refused "$(cmd $B write /local/domain/$A/data/hello hacked)"
xenstore-write /tool/lab/shared granted && xenstore-chmod /tool/lab/shared n0 r$A
expect "labA reads a node once dom0 grants it read" "ok granted" "$(cmd $A read /tool/lab/shared)"
expect "labB still cannot" refused "$(cmd $B read /tool/lab/shared)"
expect "a read grant is not a write grant" refused "$(cmd $A write /tool/lab/shared mine)"
xenstore-chmod /tool/lab/shared n0 b$A
expect "labA writes it once dom0 grants both" ok "$(cmd $A write /tool/lab/shared mine)"
expect "dom0 sees labA's write" mine "$(xenstore-read /tool/lab/shared 2>&1)"
# ---- 5. the disk, through dom0's kernel backend (xen-blkback over dom0's xenbus) -------
disk=$(cmd $A disk xvda TSXS-DISK-SIG)
expect "labA's blkfront sees the disk" "ok signature read*" "$disk"
expect "blkback's state in xenstore (4 = connected)" 4 "$(xenstore-read /local/domain/0/backend/vbd/$A/51712/state 2>&1)"

# (before the quota check: a guest at its node quota cannot set up a device)
expect "a value over the size quota is refused" refused "$(cmd $A big 3000)"
many=$(cmd $A many 150)
expect "the node quota stops labA (quota 100, some nodes already its own)" "made [1-9]*" "$many"
[ "${many#made }" -lt 100 ] 2>/dev/null && pass "labA made fewer than 100 nodes (${many#made })" || flunk "labA made ${many#made } nodes with a quota of 100"
expect "the daemon lives on: labA is still served" "ok world-$A" "$(cmd $A read data/hello)"
expect "labA frees its nodes" ok "$(cmd $A rm data/many)"
check "the daemon is alive" kill -0 "$XSPID"
# The metrics of a real host: dom0's kernel xenbus and the two guests are ring connections.
expect "metrics: dom0's kernel and two guests on rings" 3 "$(metric 'tsxenstored_connections{kind="ring"}')"
expect "metrics: three domains introduced" 3 "$(metric tsxenstored_domains)"
expect "labB floods (3 writers, 4 s)" "flooded *" "$(cmd $B flood 3 4)"
expect "labA is served after labB's flood" "ok world-$A" "$(cmd $A read data/hello)"

# ---- 4. a guest that corrupts its ring -------------------------------------------------
log "$(node "$LABDIR/corrupt-ring.mjs" "$B" 2>&1)"
xenstore-write /local/domain/$B/data/cmd "poke"   # a watch event for labB: the daemon finds the indices
check "the daemon cut labB off (logged)" eventually 60 grep -q "dom$B: .*ring ignored" "$XSLOG"
expect_eventually "labB's watches are gone with its connection" "* 0" 30 usage_of $B
expect "labA is still served" "ok world-$A" "$(cmd $A read data/hello)"
expect "dom0 still works" Domain-0 "$(xenstore-read /local/domain/0/name 2>&1)"

# ---- 3. shutdown and destroy -----------------------------------------------------------
r0=$(released)
check "labA has watches before shutdown" test "$(usage_of $A | cut -d' ' -f2)" -gt 0
xl shutdown labA 2>&1 | sed 's/^/LAB   xl: /'
check "labA's kernel saw control/shutdown and powered off" wait_console labA "GUEST $A: orderly poweroff" 120
check "labA is gone from xl list" eventually 120 bash -c "! xl domid labA >/dev/null 2>&1"
check "@releaseDomain fired for labA" eventually 30 bash -c "test \$(wc -l </tmp/release.log) -gt $r0"
expect "labA's home is gone" "" "$(xenstore-ls /local/domain/$A 2>/dev/null | head -1)"
expect_eventually "the daemon forgot labA's nodes and watches" "0 0" 30 usage_of $A
check "labA's disk has its write" grep -q "GUEST-$A-WROTE" /tmp/disk.img
destroyed labB "$B" /tmp/release.log
C3=$(new_guest labC)
check "a new guest works afterwards" wait_console labC "GUEST $C3: serving"
expect "labC reads its home" "ok world-$C3" "$(cmd $C3 read data/hello)"
relay labC
xl destroy labC
expect "the daemon's own consistency check" OK "$(xenstore-control check 2>&1)"
check "the daemon is alive at the end" kill -0 "$XSPID"
check "every log line is a JSON object" node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trimEnd().split("\n");
  for (const l of lines) { const o = JSON.parse(l); if (typeof o.msg !== "string" || typeof o.level !== "string") process.exit(1); }' "$XSLOG"
log "scenario took $(echo "$(up) - $T0" | bc)s of dom0 time"
finish
