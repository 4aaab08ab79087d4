#!/usr/bin/env python3
"""Example publisher for abstraction-tracker (contract v1), using nats-py.

Publishes a small, self-consistent story for Dudley LPA on 14-15 May 2024 (BST) to
NATS JetStream, the way a rostering system should:

  1. shift.rostered        PC wmp:staff:ex-0001, 07:00-17:00 in dudley-town     (10 h)
  2. shift.rostered        PCSO wmp:staff:ex-0002, 14:00-22:00 in dudley-halesowen (8 h)
  3. shift.cancelled       the PCSO's shift (sickness: a cancellation, nothing more)
  4. abstraction.started   the PC leaves at 09:00 for a hospital watch
  5. abstraction.ended     ...and is back at 12:30
  6. abstraction.amended   next day the supervisor corrects it: it was a prisoner
                           escort, and it ended at 13:00

What the tracker then shows for Dudley in 2024-05: 10 rostered hours, 4 abstracted
hours (all `prisoner_escort`, 0 left under `hospital_watch`), ratio 0.4.

Each event goes to `neighbourhood.events.<lpa>.<type>` with the `Nats-Msg-Id` header
set to its `event_id`. The event ids are fixed, so running this script again publishes
the same events again: the broker (within its 2-minute duplicate window) and the
tracker (for ever) recognise them and nothing changes. That is also how a real
publisher retries: with the same `event_id`, never a new one.

Usage:
    pip install -r deploy/examples/requirements.txt
    NATS_URL=nats://127.0.0.1:4222 python3 deploy/examples/publisher.py
    python3 deploy/examples/publisher.py --ndjson > example.ndjson   # print, publish nothing

Environment (the same names as the tracker's flags): NATS_URL, NATS_USER and
NATS_PASSWORD, NATS_TOKEN, NATS_CREDS (a .creds file), NATS_NKEY_SEED (the nkey seed,
SU...), NATS_CA (CA certificate for TLS). .creds files and nkeys need the `nkeys`
extra: pip install 'nats-py[nkeys]'.

Prints one line per PubAck: `event_id subject stream=... seq=... duplicate=...`.
Exits 0 when every event was acknowledged, 1 otherwise (with the reason on stderr).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import sys

STREAM = "NEIGHBOURHOOD_EVENTS"
MAX_EVENT_BYTES = 64 * 1024
SOURCE = "example-publisher"
PUBLISH_TIMEOUT_S = 5.0
ATTEMPTS = 5


def envelope(event_id: str, kind: str, occurred_at: str, lpa: str, data: dict) -> dict:
    """The contract's envelope: all fields required, nothing else allowed."""
    return {
        "event_id": event_id,
        "type": kind,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "source": SOURCE,
        "lpa": lpa,
        "data": data,
    }


# In a real system the event_id is generated once, when the change is recorded (e.g. a
# UUID stored in an outbox table next to the change), and re-used on every retry.
EVENTS = [
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000001",
        "shift.rostered",
        "2024-05-01T10:00:00+01:00",
        "dudley",
        {
            "shift_id": "example-shf-dud-20240514-0001",
            "officer_id": "wmp:staff:ex-0001",
            "role": "pc",
            "sector": "dudley-town",
            "start": "2024-05-14T07:00:00+01:00",
            "end": "2024-05-14T17:00:00+01:00",
        },
    ),
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000002",
        "shift.rostered",
        "2024-05-01T10:00:00+01:00",
        "dudley",
        {
            "shift_id": "example-shf-dud-20240515-0002",
            "officer_id": "wmp:staff:ex-0002",
            "role": "pcso",
            "sector": "dudley-halesowen",
            "start": "2024-05-15T14:00:00+01:00",
            "end": "2024-05-15T22:00:00+01:00",
        },
    ),
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000003",
        "shift.cancelled",
        "2024-05-15T08:30:00+01:00",
        "dudley",
        {"shift_id": "example-shf-dud-20240515-0002", "cause": "sickness"},
    ),
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000004",
        "abstraction.started",
        "2024-05-14T09:02:00+01:00",
        "dudley",
        {
            "abstraction_id": "example-abs-dud-20240514-0001",
            "officer_id": "wmp:staff:ex-0001",
            "role": "pc",
            "sector": "dudley-town",
            "reason": "hospital_watch",
            "scope": "lpa",
            "planned": False,
            "start": "2024-05-14T09:00:00+01:00",
            "shift_id": "example-shf-dud-20240514-0001",
        },
    ),
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000005",
        "abstraction.ended",
        "2024-05-14T12:31:00+01:00",
        "dudley",
        {
            "abstraction_id": "example-abs-dud-20240514-0001",
            "end": "2024-05-14T12:30:00+01:00",
        },
    ),
    envelope(
        "0f1d6a52-5b1e-4c2e-9a51-000000000006",
        "abstraction.amended",
        "2024-05-15T09:00:00+01:00",
        "dudley",
        {
            "abstraction_id": "example-abs-dud-20240514-0001",
            "reason": "prisoner_escort",
            "end": "2024-05-14T13:00:00+01:00",
        },
    ),
]


def subject(event: dict) -> str:
    return f"neighbourhood.events.{event['lpa']}.{event['type']}"


def encode(event: dict) -> bytes:
    payload = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(payload) > MAX_EVENT_BYTES:
        raise ValueError(
            f"{event['event_id']}: {len(payload)} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    return payload


def connect_options() -> dict:
    env = os.environ
    opts: dict = {
        "servers": [s.strip() for s in env.get("NATS_URL", "nats://127.0.0.1:4222").split(",")],
        "name": SOURCE,
        "connect_timeout": 5,
        # Fail fast when the broker cannot be reached at all; once connected, the client
        # reconnects by itself and publishes below are retried.
        "max_reconnect_attempts": 3,
        "reconnect_time_wait": 1,
    }
    if env.get("NATS_USER"):
        opts["user"] = env["NATS_USER"]
        opts["password"] = env.get("NATS_PASSWORD", "")
    if env.get("NATS_TOKEN"):
        opts["token"] = env["NATS_TOKEN"]
    if env.get("NATS_CREDS"):
        opts["user_credentials"] = env["NATS_CREDS"]
    if env.get("NATS_NKEY_SEED"):
        opts["nkeys_seed_str"] = env["NATS_NKEY_SEED"]
    if env.get("NATS_CA"):
        opts["tls"] = ssl.create_default_context(cafile=env["NATS_CA"])
    return opts


async def publish_one(js, event: dict) -> object:
    """Publishes one event, retrying timeouts with the same Nats-Msg-Id (= event_id)."""
    import nats.errors
    import nats.js.errors

    subj, payload, event_id = subject(event), encode(event), event["event_id"]
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await js.publish(
                subj,
                payload,
                timeout=PUBLISH_TIMEOUT_S,
                stream=STREAM,  # Nats-Expected-Stream: refuse if another stream captures it
                headers={"Nats-Msg-Id": event_id},
            )
        # On Python 3.11+ nats-py's and asyncio's timeouts are both TimeoutError.
        except (TimeoutError, nats.errors.ConnectionReconnectingError) as e:
            # No PubAck: the broker may or may not have stored it. Publishing again with
            # the same id is safe: a stored copy makes the retry a duplicate.
            if attempt == ATTEMPTS:
                raise RuntimeError(
                    f"{event_id}: no PubAck after {ATTEMPTS} attempts ({type(e).__name__})"
                ) from e
            print(
                f"{event_id}: {type(e).__name__}, retrying ({attempt}/{ATTEMPTS})", file=sys.stderr
            )
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
        except nats.js.errors.NoStreamResponseError as e:
            raise RuntimeError(
                f"{event_id}: no stream captures {subj}; does {STREAM} exist? "
                "(`abstraction-tracker serve` creates it)"
            ) from e
    raise AssertionError("unreachable")


async def main() -> int:
    if "--ndjson" in sys.argv[1:]:
        for e in EVENTS:
            sys.stdout.write(encode(e).decode("utf-8") + "\n")
        return 0
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    try:
        import nats
    except ImportError:
        print(
            "nats-py is missing: pip install -r deploy/examples/requirements.txt", file=sys.stderr
        )
        return 1

    async def quiet(_e: Exception) -> None:  # connection errors are reported below
        pass

    opts = connect_options()
    try:
        nc = await nats.connect(error_cb=quiet, **opts)
    except Exception as e:  # noqa: BLE001 - report any connection failure in one line
        print(
            f"cannot connect to NATS at {opts['servers']}: {type(e).__name__}: {e}", file=sys.stderr
        )
        return 1
    try:
        js = nc.jetstream()
        for event in EVENTS:
            ack = await publish_one(js, event)
            print(
                f"{event['event_id']} {subject(event)} "
                f"stream={ack.stream} seq={ack.seq} duplicate={bool(ack.duplicate)}",
                flush=True,
            )
    except Exception as e:  # noqa: BLE001 - one line on stderr, non-zero exit
        print(f"publish failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):  # already closed: nothing left to flush
            await nc.drain()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
