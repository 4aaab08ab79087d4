#!/usr/bin/env python3
"""Check the NATS users in accounts.conf against a real, throw-away nats-server.

Starts `nats-server -js -c nats-server.conf` on free loopback ports (-a/-p/-m
override the file) with a temporary JetStream store (a copy of the two files with
store_dir rewritten: nats-server 2.9 refuses -sd when the file sets store_dir) and
test passwords in NATS_PUBLISHER_PASSWORD / NATS_TRACKER_PASSWORD, then speaks the
NATS text protocol over a socket (Python standard library only, no NATS client) to
check that:

  * a wrong password is refused;
  * `tracker` may create/inspect the two streams, publish to neighbourhood.rejected.>
    (and gets a PubAck), and may not publish to neighbourhood.events.> or delete a
    stream;
  * `publisher` may publish to neighbourhood.events.dudley.shift.rostered (and gets a
    PubAck from NEIGHBOURHOOD_EVENTS), and may not publish to
    neighbourhood.rejected.x, call the JetStream API, or subscribe to the streams'
    subjects.

With --tracker BIN it also runs `BIN serve` as user `tracker` (so the tracker itself
creates the streams and its consumer with exactly these permissions), publishes a
second valid event with `BIN publish -` as user `publisher` and a mismatched one
over the socket, and waits until /metrics shows two applied and one rejected, with
no permission error in the tracker's log.

Prints one line per check and a closing "N passed, N failed"; exit status 0 when
all pass. Never point it at a real server: it starts its own.

    python3 deploy/nats/check_permissions.py [--tracker target/debug/abstraction-tracker]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

VALID_EVENT = {
    "event_id": "0192f0c4-7d1e-7a00-9f00-00000000c0de",
    "type": "shift.rostered",
    "schema_version": 1,
    "occurred_at": "2024-03-01T09:00:00Z",
    "source": "permissions-check",
    "lpa": "dudley",
    "data": {
        "shift_id": "perm-check-1",
        "officer_id": "perm:check:1",
        "role": "pc",
        "sector": "dudley-north",
        "start": "2024-03-04T07:00:00Z",
        "end": "2024-03-04T15:00:00Z",
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nats:
    """The few NATS protocol operations the checks need."""

    def __init__(self, port: int, user: str, password: str, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.errors: list[str] = []
        self.msgs: list[tuple[str, bytes]] = []
        info = self._line()
        if not info.startswith("INFO "):
            raise RuntimeError(f"no INFO from server: {info!r}")
        connect = {"verbose": False, "pedantic": False, "user": user, "pass": password,
                   "name": f"check_permissions-{user}", "lang": "python", "version": "0",
                   "protocol": 1, "headers": True, "no_responders": True}
        self._send(f"CONNECT {json.dumps(connect)}\r\nPING\r\n".encode())
        self.connected = self._until_pong()

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> str:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def _payload(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _until_pong(self) -> bool:
        """Reads until PONG; records -ERR lines and messages. False if the server
        closed the connection (e.g. after an authorization error)."""
        try:
            while True:
                line = self._line()
                if line == "PONG":
                    return True
                if line == "PING":
                    self._send(b"PONG\r\n")
                elif line.startswith("-ERR"):
                    self.errors.append(line)
                elif line.startswith("MSG "):
                    parts = line.split()
                    self.msgs.append((parts[1], self._payload(int(parts[-1]))))
                elif line.startswith("HMSG "):
                    parts = line.split()
                    self.msgs.append((parts[1], self._payload(int(parts[-1]))))
        except (ConnectionError, OSError):
            return False

    def sync(self) -> list[str]:
        """Round trip; returns the -ERR lines received since the last sync."""
        self.errors = []
        self._send(b"PING\r\n")
        self._until_pong()
        return self.errors

    def sub(self, subject: str, sid: int) -> list[str]:
        self._send(f"SUB {subject} {sid}\r\n".encode())
        return self.sync()

    def pub(self, subject: str, payload: bytes, reply: str | None = None) -> list[str]:
        head = f"PUB {subject} {reply} {len(payload)}" if reply else f"PUB {subject} {len(payload)}"
        self._send(head.encode() + b"\r\n" + payload + b"\r\n")
        return self.sync()

    def request(self, subject: str, payload: bytes, inbox: str, wait: float = 3.0):
        """Publishes with a reply inbox (already subscribed) and waits for one reply.
        Returns (errors, reply payload or None)."""
        self.msgs = []
        errors = self.pub(subject, payload, inbox)
        deadline = time.monotonic() + wait
        while not any(s == inbox for s, _ in self.msgs) and time.monotonic() < deadline:
            time.sleep(0.05)
            errors += self.sync()
        replies = [p for s, p in self.msgs if s == inbox]
        return errors, (replies[0] if replies else None)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}{': ' + detail if detail else ''}")
        return ok


def violation(errors: list[str], kind: str, subject: str) -> bool:
    return any("Permissions Violation" in e and kind in e and subject in e for e in errors)


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {seconds}s")


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def metric(text: str, name: str, labels: str = "") -> float:
    prefix = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--nats-server", default=shutil.which("nats-server") or "/usr/sbin/nats-server")
    ap.add_argument("--config", type=Path, default=HERE / "nats-server.conf")
    ap.add_argument("--tracker", type=Path, help="abstraction-tracker binary: also run `serve` as user tracker")
    ap.add_argument("--publisher-password", default="test-publisher-password")
    ap.add_argument("--tracker-password", default="test-tracker-password")
    args = ap.parse_args()

    c = Checks()
    tmp = Path(tempfile.mkdtemp(prefix="nats-perm-check-"))
    port, mport = free_port(), free_port()
    env = dict(os.environ, NATS_PUBLISHER_PASSWORD=args.publisher_password,
               NATS_TRACKER_PASSWORD=args.tracker_password)
    # Copies of the configuration (and the accounts.conf it includes) with the
    # JetStream store in the temporary directory.
    conf_dir = tmp / "conf"
    conf_dir.mkdir()
    for f in args.config.parent.glob("*.conf"):
        shutil.copy(f, conf_dir / f.name)
    conf = conf_dir / args.config.name
    lines = conf.read_text().splitlines()
    rewritten = [f"  store_dir: {json.dumps(str(tmp / 'js'))}" if l.strip().startswith("store_dir:") else l
                 for l in lines]
    conf.write_text("\n".join(rewritten) + "\n")
    server_log = open(tmp / "nats-server.log", "w")
    server = subprocess.Popen(
        [args.nats_server, "-c", str(conf), "-js", "-a", "127.0.0.1", "-p", str(port),
         "-m", str(mport)],
        env=env, stdout=server_log, stderr=subprocess.STDOUT)
    tracker = None
    conns: list[Nats] = []
    try:
        wait_port(port, server)
        print(f"      nats-server on 127.0.0.1:{port}, store {tmp / 'js'}")

        bad = Nats(port, "publisher", "wrong-password")
        c.check(not bad.connected and any("Authorization Violation" in e for e in bad.errors),
                "a wrong password is refused", f"connected={bad.connected} errors={bad.errors}")
        bad.close()

        trk = Nats(port, "tracker", args.tracker_password)
        conns.append(trk)
        c.check(trk.connected, "tracker connects", str(trk.errors))
        trk.sub("_INBOX.trk.>", 1)
        pub = Nats(port, "publisher", args.publisher_password)
        conns.append(pub)
        c.check(pub.connected, "publisher connects", str(pub.errors))
        c.check(not pub.sub("_INBOX.pub.>", 1), "publisher may subscribe to _INBOX.> (PubAck replies)")

        if args.tracker:
            hport = free_port()
            tenv = dict(os.environ, NATS_URL=f"nats://127.0.0.1:{port}", NATS_USER="tracker",
                        NATS_PASSWORD=args.tracker_password, TRACKER_DATA_DIR=str(tmp / "tracker"),
                        TRACKER_HTTP_ADDR=f"127.0.0.1:{hport}", RUST_LOG="info")
            tracker_log = open(tmp / "tracker.log", "w")
            tracker = subprocess.Popen([str(args.tracker), "serve"], env=tenv,
                                       stdout=tracker_log, stderr=subprocess.STDOUT)
            wait_port(hport, tracker)
            deadline = time.monotonic() + 30
            status = 0
            while time.monotonic() < deadline and status != 200:
                status, _ = http_get(f"http://127.0.0.1:{hport}/readyz")
                time.sleep(0.2)
            c.check(status == 200, "tracker (serve, user tracker) creates the streams and its consumer: /readyz 200",
                    f"/readyz {status}; see {tmp / 'tracker.log'}")
        else:
            for stream, subjects in (("NEIGHBOURHOOD_EVENTS", "neighbourhood.events.>"),
                                     ("NEIGHBOURHOOD_REJECTED", "neighbourhood.rejected.>")):
                cfg = {"name": stream, "subjects": [subjects], "storage": "file", "num_replicas": 1}
                errs, reply = trk.request(f"$JS.API.STREAM.CREATE.{stream}", json.dumps(cfg).encode(),
                                          "_INBOX.trk.create")
                body = json.loads(reply) if reply else {}
                c.check(not errs and reply is not None and "error" not in body,
                        f"tracker may create stream {stream}", f"errors={errs} reply={reply!r}")

        errs, reply = trk.request("$JS.API.STREAM.INFO.NEIGHBOURHOOD_EVENTS", b"", "_INBOX.trk.info")
        c.check(not errs and reply is not None and b'"config"' in reply,
                "tracker may read NEIGHBOURHOOD_EVENTS' stream info", f"errors={errs} reply={reply!r}")
        errs = trk.pub("neighbourhood.events.dudley.shift.rostered", b"{}")
        c.check(violation(errs, "Publish", "neighbourhood.events.dudley.shift.rostered"),
                "tracker may NOT publish to neighbourhood.events.dudley.shift.rostered", str(errs))
        errs = trk.pub("$JS.API.STREAM.DELETE.NEIGHBOURHOOD_EVENTS", b"", "_INBOX.trk.del")
        c.check(violation(errs, "Publish", "$JS.API.STREAM.DELETE.NEIGHBOURHOOD_EVENTS"),
                "tracker may NOT delete a stream", str(errs))
        errs = trk.sub("neighbourhood.events.>", 2)
        c.check(violation(errs, "Subscription", "neighbourhood.events.>"),
                "tracker may NOT subscribe to neighbourhood.events.> (it pulls through JetStream)", str(errs))
        errs, reply = trk.request("neighbourhood.rejected.permissions_check", b"{}", "_INBOX.trk.rej")
        c.check(not errs and reply is not None and b"NEIGHBOURHOOD_REJECTED" in reply,
                "tracker may publish to neighbourhood.rejected.> and gets a PubAck",
                f"errors={errs} reply={reply!r}")

        body = json.dumps(VALID_EVENT).encode()
        errs, reply = pub.request("neighbourhood.events.dudley.shift.rostered", body, "_INBOX.pub.ack1")
        c.check(not errs and reply is not None and b"NEIGHBOURHOOD_EVENTS" in reply,
                "publisher may publish to neighbourhood.events.dudley.shift.rostered and gets a PubAck",
                f"errors={errs} reply={reply!r}")
        errs = pub.pub("neighbourhood.rejected.x", b"{}")
        c.check(violation(errs, "Publish", "neighbourhood.rejected.x"),
                "publisher may NOT publish to neighbourhood.rejected.x", str(errs))
        errs = pub.pub("$JS.API.STREAM.DELETE.NEIGHBOURHOOD_EVENTS", b"", "_INBOX.pub.del")
        c.check(violation(errs, "Publish", "$JS.API.STREAM.DELETE.NEIGHBOURHOOD_EVENTS"),
                "publisher may NOT use the JetStream API (stream delete)", str(errs))
        errs = pub.pub("$JS.API.CONSUMER.CREATE.NEIGHBOURHOOD_EVENTS", b"{}", "_INBOX.pub.cc")
        c.check(violation(errs, "Publish", "$JS.API.CONSUMER.CREATE.NEIGHBOURHOOD_EVENTS"),
                "publisher may NOT create consumers", str(errs))
        for subject in ("neighbourhood.events.>", "neighbourhood.rejected.>"):
            errs = pub.sub(subject, 3)
            c.check(violation(errs, "Subscription", subject),
                    f"publisher may NOT subscribe to {subject}", str(errs))

        if tracker:
            # The tracker's own `publish` command, as user publisher.
            second = dict(VALID_EVENT, event_id="0192f0c4-7d1e-7a00-9f00-00000000c0df",
                          data=dict(VALID_EVENT["data"], shift_id="perm-check-2"))
            penv = dict(os.environ, NATS_URL=f"nats://127.0.0.1:{port}", NATS_USER="publisher",
                        NATS_PASSWORD=args.publisher_password)
            out = subprocess.run([str(args.tracker), "publish", "-"], env=penv, capture_output=True,
                                 input=(json.dumps(second) + "\n").encode(), timeout=30)
            perr = out.stderr.decode(errors="replace")
            c.check(out.returncode == 0 and "permissions violation" not in perr.lower(),
                    "`abstraction-tracker publish` works as user publisher",
                    f"exit {out.returncode}: {perr.strip()[-500:]}")
            # The same event on another LPA's subject: the tracker must reject it
            # (envelope lpa != subject lpa) and re-publish it, with its permissions.
            errs, reply = pub.request("neighbourhood.events.walsall.shift.rostered", body, "_INBOX.pub.ack2")
            c.check(not errs and reply is not None, "publisher publishes a mismatched event", str(errs))
            deadline = time.monotonic() + 30
            text = ""
            while time.monotonic() < deadline:
                _, text = http_get(f"http://127.0.0.1:{hport}/metrics")
                if (metric(text, "abstraction_tracker_events_total", 'outcome="applied"') >= 2
                        and metric(text, "abstraction_tracker_events_total", 'outcome="rejected"') >= 1):
                    break
                time.sleep(0.3)
            applied = metric(text, "abstraction_tracker_events_total", 'outcome="applied"')
            rejected = metric(text, "abstraction_tracker_events_total", 'outcome="rejected"')
            c.check(applied >= 2 and rejected >= 1,
                    "tracker applies the two valid events and re-publishes the mismatched one",
                    f"applied={applied} rejected={rejected}; see {tmp / 'tracker.log'}")
            log = (tmp / "tracker.log").read_text(errors="replace")
            c.check("permissions violation" not in log.lower(),
                    "no permission error in the tracker's log", f"see {tmp / 'tracker.log'}")
    except Exception as e:  # noqa: BLE001 - report any setup failure as a failed check
        c.check(False, "setup", repr(e))
    finally:
        for n in conns:
            n.close()
        for p in (tracker, server):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        server_log.close()
        if c.failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"      logs kept in {tmp}")
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
