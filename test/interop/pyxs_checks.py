#!/usr/bin/python3
"""pyxs (Debian's python3-pyxs) driven against a XenStore daemon.

Run with /usr/bin/python3 (the pyenv python3 on PATH has no pyxs).

usage:
  pyxs_checks.py checks SOCKET BASE       run every check under path BASE; prints one
                                          JSON object per check: {"name", "ok", "detail"}
  pyxs_checks.py write SOCKET PATH VALUE  write one value
  pyxs_checks.py read SOCKET PATH         print {"value": ...} (latin-1 decoded)
  pyxs_checks.py watch SOCKET PATH TOKEN N
                                          set a watch, print {"ready": true, "first": [path, token]}
                                          after its initial event, then one {"event": [path, token]}
                                          per further event until N of them arrived

Every wait for an event is bounded (EVENT_TIMEOUT); a global watchdog ends the
process if a reply never comes (pyxs itself would block forever).
"""
import errno
import faulthandler
import json
import queue
import sys
import traceback

from pyxs import Client
from pyxs._internal import Op
from pyxs.exceptions import PyXSError

EVENT_TIMEOUT = 30
WATCHDOG = 100

faulthandler.dump_traceback_later(WATCHDOG, exit=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def s(b):
    return b.decode("latin-1") if isinstance(b, bytes) else b


def next_event(mon, timeout=EVENT_TIMEOUT):
    """The next raw (path, token) event of a monitor, as str; fails after timeout."""
    try:
        ev = mon.events.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no watch event within %ss" % timeout)
    return (s(ev.path), s(ev.token))


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except PyXSError as e:
        if not e.args or e.args[0] != code:
            raise AssertionError("expected %s, got %r" % (errno.errorcode[code], e.args))
        return e.args
    raise AssertionError("expected %s, call succeeded" % errno.errorcode[code])


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def read_write(c, c2, base):
    c[base + b"/rw/a"] = b"hello"
    eq(c[base + b"/rw/a"], b"hello", "read back")
    c.write(base + b"/rw/space", b"with  spaces")
    eq(c.read(base + b"/rw/space"), b"with  spaces", "spaces")
    c[base + b"/rw/empty"] = b""
    eq(c[base + b"/rw/empty"], b"", "empty value")
    eq(c2[base + b"/rw/a"], b"hello", "visible to a second client")
    c[base + b"/rw/a"] = b"overwritten"
    eq(c2[base + b"/rw/a"], b"overwritten", "overwrite")
    expect_error(errno.ENOENT, c.read, base + b"/rw/missing")
    eq(c.read(base + b"/rw/missing", b"dflt"), b"dflt", "read with default")
    return "ok"


@check
def mkdir_exists_delete(c, c2, base):
    c.mkdir(base + b"/md/x/y")
    eq(c.exists(base + b"/md/x/y"), True, "exists after mkdir")
    eq(c[base + b"/md/x/y"], b"", "mkdir value")
    c[base + b"/md/x/y"] = b"v"
    c.mkdir(base + b"/md/x/y")  # existing: OK, value kept
    eq(c[base + b"/md/x/y"], b"v", "mkdir keeps value")
    c.delete(base + b"/md/x")
    eq(c.exists(base + b"/md/x"), False, "gone after delete")
    eq(c.exists(base + b"/md/x/y"), False, "child gone after delete")
    c.delete(base + b"/md/never")  # parent exists: OK
    expect_error(errno.ENOENT, c.delete, base + b"/md/no/parent")
    return "ok"


@check
def ls(c, c2, base):
    for k in (b"b", b"a", b"c"):
        c[base + b"/ls/" + k] = k
    c.mkdir(base + b"/ls/empty")
    eq(sorted(c.list(base + b"/ls")), [b"a", b"b", b"c", b"empty"], "list")
    eq(c.list(base + b"/ls/empty"), [], "list of a leaf")
    expect_error(errno.ENOENT, c.list, base + b"/ls/missing")
    walked = sorted((s(p), s(v)) for p, v, _ in c.walk(base + b"/ls"))
    want = sorted([(s(base) + "/ls", ""), (s(base) + "/ls/a", "a"), (s(base) + "/ls/b", "b"),
                   (s(base) + "/ls/c", "c"), (s(base) + "/ls/empty", "")])
    eq(walked, want, "walk")
    return c.list(base + b"/ls")


@check
def perms(c, c2, base):
    p = base + b"/perms/node"
    c[p] = b"x"
    eq(c.get_perms(p), [b"n0"], "default perms")
    c.set_perms(p, [b"n0", b"r5"])
    eq(c.get_perms(p), [b"n0", b"r5"], "after set")
    c.set_perms(p, [b"b3", b"w1", b"n2"])
    eq(c.get_perms(p), [b"b3", b"w1", b"n2"], "owner 3")
    eq(c2.get_perms(p), [b"b3", b"w1", b"n2"], "seen by another client")
    expect_error(errno.ENOENT, c.get_perms, base + b"/perms/missing")
    expect_error(errno.ENOENT, c.set_perms, base + b"/perms/missing/deeper", [b"n0"])
    return "ok"


@check
def domain_queries(c, c2, base):
    eq(c.get_domain_path(3), b"/local/domain/3", "get_domain_path(3)")
    eq(c.get_domain_path(0), b"/local/domain/0", "get_domain_path(0)")
    eq(c.is_domain_introduced(0), True, "dom0 introduced")
    eq(c.is_domain_introduced(5), False, "dom5 not introduced")
    return "ok"


@check
def introduce_release(c, c2, base):
    c.introduce_domain(7, 1234, 3)
    eq(c.is_domain_introduced(7), True, "dom7 after introduce")
    c.ack(Op.RELEASE, b"7\x00")  # pyxs' release_domain() refuses without /proc/xen
    eq(c.is_domain_introduced(7), False, "dom7 after release")
    return "ok"


@check
def transaction_commit(c, c2, base):
    p = base + b"/tx/commit"
    c.transaction()
    c[p + b"/a"] = b"1"
    c[p + b"/b"] = b"2"
    eq(c[p + b"/a"], b"1", "read inside the transaction")
    eq(c2.exists(p), False, "invisible outside before commit")
    eq(c.commit(), True, "commit")
    eq(c.tx_id, 0, "tx_id reset")
    eq(c2[p + b"/a"], b"1", "a after commit")
    eq(c2[p + b"/b"], b"2", "b after commit")
    return "ok"


@check
def transaction_abort(c, c2, base):
    p = base + b"/tx/abort"
    c[p + b"/keep"] = b"before"
    c.transaction()
    c[p + b"/new"] = b"x"
    c[p + b"/keep"] = b"changed"
    c.rollback()
    eq(c.tx_id, 0, "tx_id reset")
    eq(c.exists(p + b"/new"), False, "aborted write absent")
    eq(c[p + b"/keep"], b"before", "aborted overwrite undone")
    return "ok"


@check
def transaction_conflict_commit_false(c, c2, base):
    """Read-modify-write in a transaction; another client writes the node in between."""
    p = base + b"/tx/conflict1"
    c[p] = b"0"
    c.transaction()
    v = c[p]
    c2[p] = b"from-c2"
    c[p] = v + b"+1"
    eq(c.commit(), False, "commit after a conflicting write (EAGAIN)")
    eq(c[p], b"from-c2", "the conflicting transaction left no trace")
    # The usual retry loop then succeeds.
    for _ in range(5):
        c.transaction()
        v = c[p]
        c[p] = v + b"+1"
        if c.commit():
            break
    else:
        raise AssertionError("retry never committed")
    eq(c[p], b"from-c2+1", "after retry")
    return "ok"


@check
def transaction_conflict_eagain(c, c2, base):
    """The same conflict, ending the transaction by hand: PyXSError with errno EAGAIN."""
    p = base + b"/tx/conflict2"
    c[p] = b"0"
    c.transaction()
    c[p]
    c2[p] = b"other"
    c[p] = b"mine"
    try:
        args = expect_error(errno.EAGAIN, c.execute_command, Op.TRANSACTION_END, b"T\x00")
    finally:
        c.tx_id = 0
    eq(c[p], b"other", "value after the failed commit")
    return list(args)


@check
def watch_events(c, c2, base):
    p = base + b"/watch"
    m = c.monitor()
    m.watch(p, b"tok-w")
    eq(next_event(m), (s(p), "tok-w"), "first event is the watched path")
    c2[p + b"/child"] = b"x"
    eq(next_event(m), (s(p) + "/child", "tok-w"), "event after a write by another client")
    c2.delete(p + b"/child")
    eq(next_event(m), (s(p) + "/child", "tok-w"), "event after rm")
    c2.set_perms(p, [b"n0", b"r1"])
    eq(next_event(m), (s(p), "tok-w"), "event after set_perms")
    m.unwatch(p, b"tok-w")
    return "ok"


@check
def watch_duplicate_and_unwatch(c, c2, base):
    p = base + b"/watchdup"
    m = c.monitor()
    m.watch(p + b"/a", b"tok-d")
    eq(next_event(m), (s(p) + "/a", "tok-d"), "first event a")
    m.watch(p + b"/b", b"tok-d")  # same token, other path: the monitor is subscribed twice
    eq(next_event(m), (s(p) + "/b", "tok-d"), "first event b")
    expect_error(errno.EEXIST, c.ack, Op.WATCH, p + b"/a\x00", b"tok-d\x00")
    m.unwatch(p + b"/a", b"tok-d")
    expect_error(errno.ENOENT, c.ack, Op.UNWATCH, p + b"/a\x00", b"tok-d\x00")
    # Events reach one connection in order: an event for the removed watch
    # would arrive before the one for /b.
    c2[p + b"/a"] = b"1"
    c2[p + b"/b"] = b"2"
    eq(next_event(m), (s(p) + "/b", "tok-d"), "only the remaining watch fires")
    m.unwatch(p + b"/b", b"tok-d")
    return "ok"


@check
def watch_transaction_events_at_commit(c, c2, base):
    p = base + b"/watchtx"
    # Created first, and later only changed in value, so that writing it does
    # not touch /watchtx itself (the C daemon would then fail the commit).
    c[p + b"/marker"] = b"0"
    m = c.monitor()
    m.watch(p, b"tok-t")
    eq(next_event(m), (s(p), "tok-t"), "first event")
    c2.transaction()
    c2[p + b"/in-tx"] = b"1"
    c[p + b"/marker"] = b"1"  # outside the transaction
    eq(next_event(m), (s(p) + "/marker", "tok-t"), "no event before the commit")
    eq(c2.commit(), True, "commit")
    eq(next_event(m), (s(p) + "/in-tx", "tok-t"), "event at commit")
    m.unwatch(p, b"tok-t")
    return "ok"


def run_checks(sock, base):
    base = base.encode()
    for fn in CHECKS:
        name = fn.__name__
        try:
            with Client(unix_socket_path=sock) as c, Client(unix_socket_path=sock) as c2:
                detail = fn(c, c2, base + b"/" + name.encode().replace(b"_", b"-"))
            emit({"name": name, "ok": True, "detail": repr(detail)})
        except Exception:
            emit({"name": name, "ok": False, "detail": traceback.format_exc()})
    emit({"done": True})


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "checks" and len(argv) == 4:
        run_checks(argv[2], argv[3])
    elif cmd == "write" and len(argv) == 5:
        with Client(unix_socket_path=argv[2]) as c:
            c[argv[3].encode()] = argv[4].encode()
        emit({"ok": True})
    elif cmd == "read" and len(argv) == 4:
        with Client(unix_socket_path=argv[2]) as c:
            emit({"value": s(c[argv[3].encode()])})
    elif cmd == "watch" and len(argv) == 6:
        path, token, n = argv[3].encode(), argv[4].encode(), int(argv[5])
        with Client(unix_socket_path=argv[2]) as c:
            m = c.monitor()
            m.watch(path, token)
            emit({"ready": True, "first": list(next_event(m))})
            for _ in range(n):
                emit({"event": list(next_event(m))})
            m.unwatch(path, token)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
