#!/bin/bash
# Lab scenario "survive" (runs in dom0): guests keep running while the daemon is
# replaced or crashes, on a real Xen host.
#  7. live update (xenstore-control live-update): the next daemon takes over the
#     socket and its clients, the event-channel fd with its bindings (VIRQ_DOM_EXC
#     included) and maps the guests' pages again, with a guest running; then xl
#     shutdown still runs its whole course (the guest kernel's control/shutdown
#     watch, @releaseDomain, xl's own monitor destroying the domain).
#  6. kill -9 of tsxenstored --durable with a guest running; started again on the
#     same directory, it re-attaches the guest's ring and event channel and dom0's
#     kernel xenbus from DIR/rings, keeps the guest's watches, and has every
#     acknowledged write. Socket clients (xenconsoled, xl's per-domain monitor) lost
#     their connection with the crash, as with any xenstored restart.
source "$(dirname "$0")/lib.sh"
T0=$(up)
DUR=/var/lib/tsxenstored
start_xenstored --durable "$DUR"
watchdog "$XSPID"
check "xen-init-dom0" xen-init-dom0
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || log "xenconsoled failed"
release_log /tmp/release.log
released() { wc -l </tmp/release.log; }
A=$(new_guest labA)
[ -n "$A" ] || finish FAIL
check "labA's kernel xenbus is up" wait_console labA "GUEST $A: serving"
check "dom0's kernel xenbus works" env XENSTORED_PATH=/dev/xen/xenbus timeout 10 xenstore-write /tool/lab/kernel kept
wA=$(usage_of $A | cut -d' ' -f2)
log "labA has $wA watches (its kernel's and its xenstore-watch on data/cmd)"

# ---- 7. live update -------------------------------------------------------------
old=$XSPID
touch /tmp/lab-planned-exit
check "xenstore-control live-update" timeout 120 xenstore-control live-update -t 60 "$LABDIR/../dist/src/cli/tsxenstored.js"
kill "$WATCHDOG" 2>/dev/null; rm -f /tmp/lab-planned-exit
new=$(cat /run/xenstored.pid 2>/dev/null)
check "a new daemon serves (pid $old -> $new)" test -n "$new" -a "$new" != "$old"
check "the old daemon is gone" bash -c "! kill -0 $old 2>/dev/null"
[ -n "$new" ] && watchdog "$new" && XSPID=$new
expect "labA's watches were handed over" "$wA" "$(usage_of $A | cut -d' ' -f2)"
expect "labA's ring and event channel work after the update" "ok world-$A" "$(cmd $A read data/hello)"
expect "dom0's kernel xenbus works after the update" kept "$(XENSTORED_PATH=/dev/xen/xenbus timeout 10 xenstore-read /tool/lab/kernel 2>&1)"
r0=$(released)
xl shutdown labA 2>&1 | sed 's/^/LAB   xl: /'
check "labA's kernel saw control/shutdown" wait_console labA "GUEST $A: orderly poweroff" 120
check "xl's monitor destroyed labA (it saw @releaseDomain through the new daemon)" eventually 120 bash -c "! xl domid labA >/dev/null 2>&1"
check "@releaseDomain reached dom0's watching socket client (VIRQ_DOM_EXC and the client handed over)" eventually 30 bash -c "test \$(wc -l </tmp/release.log) -gt $r0"
expect_eventually "the daemon forgot labA" "0 0" 30 usage_of $A

# ---- 6. crash -----------------------------------------------------------------
B=$(new_guest labB)
check "a new guest comes up after the update" wait_console labB "GUEST $B: serving"
expect "labB writes (acknowledged)" ok "$(cmd $B write data/before-crash kept)"
xenstore-write /tool/lab/dom0-before-crash kept
wB=$(usage_of $B | cut -d' ' -f2)
touch /tmp/lab-planned-exit; kill -9 "$XSPID"; wait "$XSPID" 2>/dev/null; kill "$WATCHDOG" 2>/dev/null
log "killed tsxenstored (-9) with labB running; starting it again on the same --durable directory"
rm -f /tmp/lab-planned-exit
start_xenstored --durable "$DUR"
watchdog "$XSPID"
grep -a "recovered" "$XSLOG" | tail -2 | sed 's/^/LAB   | /'
expect "dom0's write survived" kept "$(xenstore-read /tool/lab/dom0-before-crash 2>&1)"
expect "labB's acknowledged write survived" kept "$(xenstore-read /local/domain/$B/data/before-crash 2>&1)"
expect "labB's watches came back" "$wB" "$(usage_of $B | cut -d' ' -f2)"
expect "labB's watch fires and its ring works after the crash" "ok kept" "$(cmd $B read data/before-crash)"
expect "labB writes after the crash" ok "$(cmd $B write data/after-crash yes)"
expect "dom0 sees it" yes "$(xenstore-read /local/domain/$B/data/after-crash 2>&1)"
expect "dom0's kernel xenbus works after the crash" kept "$(XENSTORED_PATH=/dev/xen/xenbus timeout 10 xenstore-read /tool/lab/kernel 2>&1)"
# The socket clients of the crashed daemon are gone: start xenconsoled again, and
# destroy labB by hand (its xl monitor lost its connection too).
pkill xenconsoled; eventually 30 bash -c '! pgrep -x xenconsoled >/dev/null'
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || log "xenconsoled failed"
release_log /tmp/release2.log
destroyed labB "$B" /tmp/release2.log " (VIRQ_DOM_EXC bound again)"
C3=$(new_guest labC)
check "a new guest works after the crash" wait_console labC "GUEST $C3: serving"
expect "labC reads its home" "ok world-$C3" "$(cmd $C3 read data/hello)"
xl destroy labC
expect "the daemon's own consistency check" OK "$(xenstore-control check 2>&1)"
log "scenario took $(echo "$(up) - $T0" | bc)s of dom0 time"
finish
