# Shared by the lab scenarios (sourced; they run in dom0, chrooted into the host's
# root read-only with a tmpfs overlay, started by xenlab's dom0-init). Every line
# meant for the serial log starts with LAB; the scenario ends with finish.
export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
arg() { sed -En "s/(^|.* )$1=([^ ]*).*/\2/p" /proc/cmdline; }
C=$(arg xenlabcache); C=${C:-/tmp/xenlab-cache}
XSD=$(arg xenstored)
LABDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XSLOG=/var/log/xen/xenstored.out
up() { cut -d' ' -f1 /proc/uptime; }
log() { echo "LAB [$(up)s]: $*"; }
FAILS=0; CHECKS=0
pass() { CHECKS=$((CHECKS+1)); log "ok   $1"; }
flunk() { CHECKS=$((CHECKS+1)); FAILS=$((FAILS+1)); log "FAIL $1"; }
# check WHAT COMMAND...: the command succeeds
check() { local what=$1; shift; if "$@"; then pass "$what"; else flunk "$what"; fi; }
# eventually SECONDS COMMAND...: the command succeeds within SECONDS (polled; the
# machine may be slow, so nothing here relies on a fixed sleep)
eventually() {
  local n=$(( $1 * 5 )) i; shift
  for i in $(seq "$n"); do "$@" && return 0; sleep 0.2; done
  return 1
}
# expect_eventually WHAT WANT SECONDS COMMAND...: the command's output becomes WANT
expect_eventually() {
  local what=$1 want=$2 secs=$3 got i; shift 3
  for i in $(seq $(( secs * 5 ))); do got=$("$@" 2>&1); [[ "$got" == $want ]] && break; sleep 0.2; done
  expect "$what" "$want" "$got"
}
# expect WHAT WANT GOT: GOT equals WANT (a trailing * in WANT matches any rest)
expect() {
  # shellcheck disable=SC2053
  if [[ "$3" == $2 ]]; then pass "$1 ($3)"; else flunk "$1: wanted '$2', got '$3'"; fi
}
mkdir -p /run/xen /run/xenstored /run/lock /var/lib/xen /var/lib/xenstored /var/log/xen/console /var/lib/xen/dump

finish() {
  log "xl list:"; xl list 2>&1 | sed 's/^/LAB   /'
  log "tsxenstored's log (last 40 lines):"; tail -n 40 "$XSLOG" 2>&1 | sed 's/^/LAB   | /'
  log "$CHECKS checks, $FAILS failed"
  if [ "$FAILS" = 0 ] && [ "${1:-}" != FAIL ]; then echo "LAB-RESULT PASS"; else echo "LAB-RESULT FAIL"; fi
  echo "LAB-END"; sync
  echo 1 >/proc/sys/kernel/sysrq; sleep 1
  echo o >/proc/sysrq-trigger; sleep 5; echo b >/proc/sysrq-trigger; sleep 60
}

# Starts the xenstored named on the command line (XENLAB_XENSTORED), in the
# background, and waits until it answers; sets XSPID.
start_xenstored() {
  log "starting $XSD $*"
  "$XSD" "$@" >>"$XSLOG" 2>&1 &
  XSPID=$!
  # libxenstore falls back to dom0's kernel xenbus when the socket is missing, which
  # blocks until a daemon maps xsd_kva: bound every probe.
  for _ in $(seq 60); do timeout 3 xenstore-read / >/dev/null 2>&1 && break; kill -0 $XSPID 2>/dev/null || break; sleep 1; done
  if ! timeout 5 xenstore-read / >/dev/null 2>&1; then
    log "xenstored did not come up; its output:"; tail -n 25 "$XSLOG" | sed 's/^/LAB   | /'; finish FAIL
  fi
  log "xenstored answers (pid $XSPID)"
}

# A watchdog for the daemon: if it dies unplanned, end the lab with its output (later
# xenstore calls would fall back to the kernel xenbus and block until QEMU's timeout).
watchdog() {
  local pid=$1
  ( while kill -0 "$pid" 2>/dev/null; do sleep 1; done
    [ -f /tmp/lab-planned-exit ] && exit 0
    log "xenstored (pid $pid) exited; its output:"; tail -n 25 "$XSLOG" | sed 's/^/LAB   | /'
    echo "LAB-RESULT FAIL"; echo "LAB-END"; sync; echo 1 >/proc/sys/kernel/sysrq; echo o >/proc/sysrq-trigger ) &
  WATCHDOG=$!
}

# The lab's guest image: xenlab's (busybox, Xen's xenstore tools, xen-blkfront) with
# lab/guest-init as /init, built by lab/run.sh on the host.
GUEST_IMG=${GUEST_IMG:-$C/tsxs-guest.cpio.gz}
# new_guest NAME [XL-CONFIG-LINES...]: xl create; prints the domid
new_guest() {
  local name=$1; shift
  {
    echo "name = \"$name\""; echo 'type = "pv"'; echo "kernel = \"$C/vmlinuz\""; echo "ramdisk = \"$GUEST_IMG\""
    echo 'extra = "console=hvc0 quiet"'; echo 'memory = 128'; echo 'vcpus = 1'
    echo 'on_poweroff = "destroy"'; echo 'on_crash = "destroy"'
    for l in "$@"; do echo "$l"; done
  } >"/tmp/$name.cfg"
  xl create "/tmp/$name.cfg" 2>&1 | sed 's/^/LAB   xl: /' >&2
  xl domid "$name" 2>/dev/null
}
console() { cat "/var/log/xen/console/guest-$1.log" 2>/dev/null | tr -d '\r'; }
# wait_console NAME PATTERN [SECONDS]: the guest's console shows PATTERN
wait_console() {
  local i
  for i in $(seq $(( ${3:-240} * 5 ))); do console "$1" | grep -aq "$2" && return 0; sleep 0.2; done
  return 1
}
# relay NAME: the guest's GUEST lines so far (once each)
declare -A RELAYED
relay() {
  local n; n=$(console "$1" | wc -l)
  [ "$n" -gt "${RELAYED[$1]:-0}" ] && console "$1" | sed -n "$(( ${RELAYED[$1]:-0} + 1 )),${n}p" | grep -a '^GUEST' | sed 's/^/LAB   /'
  RELAYED[$1]=$n
}
echo 0 >/tmp/lab-seq
# cmd DOMID VERB ARGS...: the guest's answer (see lab/guest-init), or "timeout".
# Called in $(...), a subshell: the sequence number lives in a file.
cmd() {
  local d=$1 a i SEQ; shift
  SEQ=$(( $(cat /tmp/lab-seq) + 1 )); echo $SEQ >/tmp/lab-seq
  xenstore-write "/local/domain/$d/data/cmd" "$SEQ $*" || { echo "dom0 write failed"; return; }
  for i in $(seq "${CMD_WAIT:-600}"); do
    a=$(timeout 5 xenstore-read "/local/domain/$d/data/ans" 2>/dev/null)
    case $a in "$SEQ "*) echo "${a#"$SEQ "}"; return;; esac
    sleep 0.2
  done
  echo timeout
}
# The daemon's usage report for a domain: "nodes watches" (both 0 once it is forgotten)
usage_of() {
  xenstore-control quota "$1" 2>/dev/null | awk '/^nodes/{n=$3} /^watches/{w=$3} END{print n+0, w+0}'
}
# release_log FILE: a dom0 watch on @releaseDomain whose events go to FILE (it fires
# once when set: wait for that line, so later counts start from it)
release_log() {
  xenstore-watch @releaseDomain >"$1" 2>&1 &
  eventually 30 test -s "$1"
}
# destroyed NAME DOMID RELEASE-LOG [WHY]: xl destroy NAME; @releaseDomain fires and the
# daemon keeps no node or watch of the domain
destroyed() {
  local name=$1 d=$2 rl=$3 why=${4:-} r
  r=$(wc -l <"$rl")
  xl destroy "$name" 2>&1 | sed 's/^/LAB   xl: /'
  check "@releaseDomain fired for $name$why" eventually 30 bash -c "test \$(wc -l <$rl) -gt $r"
  expect_eventually "the daemon forgot $name" "0 0" 30 usage_of "$d"
}

# The value of one sample of tsxenstored's metrics (GET /metrics on its Unix socket).
metric() {
  timeout 20 node -e '
    require("http").get({ socketPath: "/run/tsxs-metrics.sock", path: "/metrics" }, (r) => {
      let b = ""; r.on("data", (d) => (b += d));
      r.on("end", () => { const l = b.split("\n").find((x) => x.startsWith(process.argv[1] + " ")); console.log(l ? l.split(" ")[1] : "missing"); });
    }).on("error", (e) => console.log(e.message));' "$1" 2>&1
}
