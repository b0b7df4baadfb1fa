"""What the Kafka fault tests (tests/integration/test_kafka_faults.py) and bench/recovery.py watch
the hub with: an open-loop Publish load, the bank's subscriber, health and CPU probes, and the ledger
as they read it. :mod:`tests.integration.fault_figures` runs a fault under the load and computes the
figures.

Everything here observes: it records what the hub's processes answered and when, on the
monotonic clock (``time.monotonic()``), with each call's deadline also kept as wall-clock time
(``time.time()``), the clock the sequencer stamps ``notarised_at`` with. The tests decide what
must hold. Nothing here imports the tests' conftest, so bench/ can use it under mypy --strict.
"""

from __future__ import annotations

import bisect
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hub.audit.driver import read_capsules
from hub.consortium.files import load_decryption_key
from hub.dev.consortium import AUDITOR_MEMBER
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.standard.schemas import default_registry
from hub.standard.sealing import KeyCapsule, open_envelope_payload
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"
ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
#: the service name the connector's health reports on (grpc.health.v1)
CONNECTOR_SERVICE = "hub.v1.Connector"
#: outcomes a Publish may answer while Kafka falters; anything else is a failure of its own
OUTAGE_CODES = frozenset({"DEADLINE_EXCEEDED", "UNAVAILABLE", "RESOURCE_EXHAUSTED"})

# the auditor flags orders whose response deadline passed unanswered: keep it a week ahead
_RESPONSE_DEADLINE = (datetime.now(UTC) + timedelta(days=7)).isoformat()


def account_of(n: int) -> str:
    """The account number of the ``n``-th order: what ties a call to its ledger entry and delivery."""
    return f"62220202{n:011d}"


def order_json(n: int) -> str:
    """A valid freeze order, unique by its case, document and account numbers."""
    return json.dumps({
        "case_number": f"（2026）京0105执{n + 1}号", "document_number": f"（2026）京0105执{n + 1}号之一",
        "court_name": "北京市朝阳区人民法院", "judge": "王建国",
        "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                    "id_number": "91110105MA01ABCD26"},
        "account_number": account_of(n), "amount": f"{1000 + n % 997}.{n % 100:02d}",
        "freeze_from": "2026-11-22T09:00:00+08:00", "freeze_until": "2027-11-22T09:00:00+08:00",
        "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条", "response_deadline": _RESPONSE_DEADLINE,
    }, ensure_ascii=False)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by nearest rank; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# --- the load -------------------------------------------------------------------------------------

@dataclass
class Call:
    """One Publish call: when it was issued, its deadline, and what it was answered."""

    n: int
    issued: float  # monotonic
    deadline_wall: float  # time.time() at issue + the deadline
    done: float | None = None  # monotonic, once answered
    code: str = ""  # "OK" or the gRPC status name
    message_id: str = ""
    receipt: str = ""  # for OK: the receipt's status ("ACCEPTED", "REJECTED BAD_SIGNATURE", ...)
    detail: str = ""

    @property
    def latency(self) -> float:
        assert self.done is not None, "the call is not answered yet"
        return self.done - self.issued

    @property
    def account(self) -> str:
        return account_of(self.n)


class PublishLoad:
    """Freeze orders court -> bank through the court's connector at a fixed rate, open loop: a call is
    issued every 1/rate seconds whether or not the ones before it were answered (gRPC futures, no
    thread per call), each with ``wait_for_receipt``, its own deadline and its own idempotency key."""

    def __init__(self, port: int, *, rate: float, deadline_s: float, key_prefix: str) -> None:
        self.rate = rate
        self.deadline_s = deadline_s
        self._key_prefix = key_prefix
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = pb_grpc.ConnectorStub(self._channel)
        self.calls: list[Call] = []
        self._answered = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="publish-load", daemon=True)

    def start(self) -> PublishLoad:
        grpc.channel_ready_future(self._channel).result(timeout=30)
        self._thread.start()
        return self

    def _run(self) -> None:
        start, n = time.monotonic(), 0
        while not self._stop.is_set():
            ahead = start + n / self.rate - time.monotonic()
            if ahead > 0 and self._stop.wait(ahead):
                return
            self._issue(n)
            n += 1

    def _issue(self, n: int) -> None:
        request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=order_json(n), wait_for_receipt=True,
                                    idempotency_key=f"{self._key_prefix}-{n}")
        call = Call(n, time.monotonic(), time.time() + self.deadline_s)
        with self._answered:
            self.calls.append(call)
            self._pending += 1
        future = self._stub.Publish.future(request, timeout=self.deadline_s)
        future.add_done_callback(lambda f: self._answer(call, f))

    def _answer(self, call: Call, future: Any) -> None:
        done = time.monotonic()
        code: grpc.StatusCode = future.code()
        if code == grpc.StatusCode.OK:
            response: pb.PublishResponse = future.result()
            call.message_id = response.message_id
            receipt = response.receipt
            call.receipt = " ".join(filter(None, [pb.Receipt.Status.Name(receipt.status), receipt.reason]))
        else:
            call.detail = future.details() or ""
        call.code = code.name
        with self._answered:
            call.done = done
            self._pending -= 1
            self._answered.notify_all()

    def stop(self) -> None:
        """Issue no more calls (those in flight go on to their answer or deadline)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def settle(self, timeout: float) -> bool:
        """Wait until every issued call is answered; whether all were."""
        with self._answered:
            return self._answered.wait_for(lambda: self._pending == 0, timeout)

    def answered(self) -> list[Call]:
        with self._answered:
            return [c for c in self.calls if c.done is not None]

    def close(self) -> None:
        self._channel.close()


# --- the bank -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivered:
    """A message the bank's subscriber received."""

    cursor: int
    message_id: str
    account: str
    at: float  # monotonic


class Subscriber:
    """The bank's system: Subscribe from the oldest record, acknowledge what it received (the newest
    cursor, by a second thread, as a system that stores before it acknowledges would), and after a
    broken stream subscribe again after the last cursor it *received*, so that anything delivered
    twice was sent twice by the hub, not asked for again by this client."""

    def __init__(self, port: int) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = pb_grpc.ConnectorStub(self._channel)
        self.deliveries: list[Delivered] = []
        self.breaks: list[tuple[float, str]] = []  # (monotonic, status) of each broken stream
        self.ack_failures: list[tuple[float, str]] = []
        #: (message id, payload_unavailable) of each message delivered without its payload
        self.unreadable: list[tuple[str, str]] = []
        self._lock = threading.Condition()
        self._last = -1
        self._acked = -1
        self._stream: Any = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, name="subscriber", daemon=True),
                         threading.Thread(target=self._ack, name="subscriber-ack", daemon=True)]

    def start(self) -> Subscriber:
        grpc.channel_ready_future(self._channel).result(timeout=30)
        for t in self._threads:
            t.start()
        return self

    def _read(self) -> None:
        while not self._stop.is_set():
            stream = self._stub.Subscribe(pb.SubscribeRequest(after_cursor=self._last))
            with self._lock:
                self._stream = stream
            try:
                for d in stream:
                    self._receive(d)
                self.breaks.append((time.monotonic(), "ENDED"))
            except grpc.RpcError as exc:
                if self._stop.is_set():
                    return
                self.breaks.append((time.monotonic(), exc.code().name))
            self._stop.wait(0.5)  # back-off before subscribing again

    def _receive(self, d: pb.Delivery) -> None:
        got = unreadable = None
        if d.WhichOneof("item") == "message":
            if d.message.payload_json:
                account = str(json.loads(d.message.payload_json).get("account_number", ""))
                got = Delivered(d.cursor, d.message.message_id, account, time.monotonic())
            else:  # delivered but not opened: a failure the checks report (it counts as not delivered)
                unreadable = (d.message.message_id, d.message.payload_unavailable or "no payload_json")
        with self._lock:
            if got is not None:
                self.deliveries.append(got)
            if unreadable is not None:
                self.unreadable.append(unreadable)
            self._last = max(self._last, d.cursor)
            self._lock.notify_all()

    def _ack(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._lock.wait_for(lambda: self._last > self._acked or self._stop.is_set())
                cursor = self._last
            if self._stop.is_set():
                return
            try:
                self._stub.Ack(pb.AckRequest(cursor=cursor), timeout=2)
                self._acked = cursor
            except grpc.RpcError as exc:
                self.ack_failures.append((time.monotonic(), exc.code().name))
                self._stop.wait(0.5)

    def message_ids(self) -> set[str]:
        with self._lock:
            return {d.message_id for d in self.deliveries}

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            if self._stream is not None:
                self._stream.cancel()
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout=10)
        self._channel.close()


# --- health, liveness and CPU ---------------------------------------------------------------------

def grpc_health(port: int, service: str = CONNECTOR_SERVICE) -> Callable[[], str]:
    """A probe of a gRPC server's standard health: "SERVING", "NOT_SERVING", ... or "ERROR <code>"."""
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

    def check() -> str:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
        except grpc.RpcError as exc:
            return f"ERROR {exc.code().name}"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))

    return check


def http_health(url: str) -> Callable[[], str]:
    """A probe of ``GET /healthz``: the JSON answer's "status" ("SERVING" with 200, "NOT_SERVING"
    with 503), "HTTP <code>" for any other answer, "UNREACHABLE" for none."""

    def check() -> str:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as r:
                code, body = r.status, r.read()
        except urllib.error.HTTPError as exc:
            code, body = exc.code, exc.read()
        except OSError:
            return "UNREACHABLE"
        try:
            status = str(json.loads(body)["status"])
        except (ValueError, KeyError, TypeError):
            return f"HTTP {code}"
        return status if (code, status) in ((200, "SERVING"), (503, "NOT_SERVING")) else f"HTTP {code} {status}"

    return check


class HealthProbe:
    """Samples each named probe every ``interval`` seconds on a thread of its own."""

    def __init__(self, probes: dict[str, Callable[[], str]], interval: float = 0.1) -> None:
        self.samples: dict[str, list[tuple[float, str]]] = {name: [] for name in probes}
        self._times: dict[str, list[float]] = {name: [] for name in probes}  # the samples' times, for bisect
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n, p, interval), name=f"probe-{n}", daemon=True)
                         for n, p in probes.items()]

    def start(self) -> HealthProbe:
        for t in self._threads:
            t.start()
        return self

    def _run(self, name: str, probe: Callable[[], str], interval: float) -> None:
        while not self._stop.is_set():
            status = probe()
            with self._lock:
                now = time.monotonic()
                self.samples[name].append((now, status))
                self._times[name].append(now)
                self._lock.notify_all()
            self._stop.wait(interval)

    def first(self, name: str, status: str, after: float, before: float = float("inf")) -> float | None:
        """When ``name`` was first seen ``status`` in [after, before], or None."""
        with self._lock:
            return next((t for t, s in self.samples[name] if after <= t <= before and s == status), None)

    def seen(self, name: str, after: float, before: float) -> list[str]:
        """The statuses ``name`` reported in [after, before], each once, in order of first sight."""
        with self._lock:
            return list(dict.fromkeys(s for t, s in self.samples[name] if after <= t <= before))

    def status_at(self, name: str, at: float) -> str | None:
        """What ``name`` last reported at or before ``at``."""
        with self._lock:
            i = bisect.bisect_right(self._times[name], at)
            return self.samples[name][i - 1][1] if i else None

    def last(self, name: str) -> str | None:
        with self._lock:
            return self.samples[name][-1][1] if self.samples[name] else None

    def wait_for(self, name: str, status: str, after: float, timeout: float) -> float | None:
        """Wait until ``name`` reports ``status`` at or after ``after``; when it did, or None."""
        with self._lock:
            self._lock.wait_for(lambda: any(t >= after and s == status for t, s in self.samples[name]), timeout)
        return self.first(name, status, after)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc/PID/stat; NaN once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the ledger -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notarised:
    """A ledger entry as the fault tests compare it with the calls: which order, and when notarised."""

    index: int
    message_id: str
    account: str
    notarised_at: float  # wall clock, seconds


def read_ledger(bootstrap: str, namespace: str, consortium: Path, partition: int = 0) -> list[Notarised]:
    """Every committed entry of ``namespace``'s ledger partition, its payload's account number read
    (an encrypted one opened as the auditor does, with the consortium's audit key)."""
    registry = default_registry()
    auditor = AUDITOR_MEMBER[0]
    key = load_decryption_key(consortium, auditor)
    capsules = read_capsules(bootstrap, Topics(namespace).keys, partition + 1)
    out = []
    for record in read_partition(bootstrap, Topics(namespace).ledger, partition):
        entry = LedgerEntry.from_bytes(record.value)
        env = Envelope.from_bytes(entry.envelope)
        schema = registry.by_fingerprint(env.schema_fingerprint)
        plain = env.payload
        if env.encrypted:
            capsule = capsules[env.message_id.bytes]
            assert capsule is not None, f"message {env.message_id} has no key capsule"
            plain = open_envelope_payload(env, KeyCapsule.from_bytes(capsule), auditor,
                                          {key.key_id: key.private_key}).payload
        payload = schema.decode(plain) if schema is not None else {}
        out.append(Notarised(entry.index, str(env.message_id), str(payload.get("account_number", "")),
                             entry.notarised_at / 1e6))
    return out
