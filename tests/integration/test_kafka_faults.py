"""When Kafka falters (issue 19): the broker SIGKILLed and restarted, SIGSTOPped and SIGCONTed,
stopped and started again, each while the court publishes freeze orders to the bank through real
connector processes (Publish with wait_for_receipt, a deadline and an idempotency key per call, at
a fixed rate) and a real sequencer notarises them. After each fault:

- every call answered OK is on the ledger once and was delivered to the bank's subscriber once;
  nothing is on the ledger twice; the partition's invariants hold; `hub audit --quiet` exits 0;
- a call answered DEADLINE_EXCEEDED or UNAVAILABLE is not on the ledger, or was notarised by its
  deadline; once the court connector says NOT_SERVING it answers at once (UNAVAILABLE, well within
  the deadline), it does not hold calls to their deadline;
- every hub process is still alive; the connectors' gRPC health and the sequencer's /healthz said
  NOT_SERVING during the outage and SERVING after; the court connector did not burn a core;
- publishes succeed at the load's rate again within 30 s of the broker answering (recovery_s,
  printed with the outage figures; the hub must have kept up with the load before the fault).

Each test prints its figures (run with -s to see them when it passes). Short faults in `make test`;
`make chaos` runs long ones. HUB_FAULT_KILL_PAUSE_S, HUB_FAULT_STOP_S, HUB_FAULT_DOWN_S: the faults'
lengths (5, 8, 20 s); HUB_FAULT_RATE and HUB_FAULT_DEADLINE_S: the load (80 calls/s, 3 s). The
2-core development machine, carrying the broker, the sequencer, both connectors and this process,
fell behind at 200 calls/s with no fault at all (122 answered OK per second, p50 1.8 s, the rest
DEADLINE_EXCEEDED) and was on the edge at 150 (in two runs of three, the answers before some
fault fell to 105-115 OK/s); at 100 it kept up before every fault when nothing else ran, and 80
leaves a margin for a busy CI machine. Set HUB_FAULT_RATE=200 where the hub has the cores. The module runs a local broker of its own, whatever HUB_KAFKA_BOOTSTRAP
says: it kills it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
import pytest

from hub.config import HubConfig
from hub.consortium.files import load_signing_key
from hub.dev.loadgen import freeze_orders, produce
from hub.errors import BrokerUnavailableError, HubError
from hub.kafka import security
from hub.kafka.clients import wait_ready
from hub.kafka.local import LocalBroker, port_free
from hub.kafka.provision import Broker
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.standard.schemas import default_registry
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc
from tests.integration import fault_figures, faults
from tests.integration.conftest import Hub, make_hub
from tests.integration.fault_figures import Timeline
from tests.integration.faults import BANK, COURT, Call, HealthProbe, PublishLoad, Subscriber
from tests.integration.invariants import caught_up, check_partition


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


RATE = _env("HUB_FAULT_RATE", 80)
DEADLINE_S = _env("HUB_FAULT_DEADLINE_S", 3)
KILL_PAUSE_S = _env("HUB_FAULT_KILL_PAUSE_S", 5)
STOP_S = _env("HUB_FAULT_STOP_S", 8)
DOWN_S = _env("HUB_FAULT_DOWN_S", 20)
#: publishes must be back at the load's rate this soon after the broker answers again, seconds
RECOVER_WITHIN_S = 30.0
#: the most of one core the court connector may use, averaged over the outage
MAX_CORES = 0.3
#: ... unless what it used is no more than this much CPU per call it answered meanwhile (measured:
#: 3-6 ms per UNAVAILABLE; librdkafka spinning against a frozen broker: a core, 10 ms more per call at 100/s)
#: On the secure broker (issue 20) the connector also pays for TLS while the broker is frozen, and now and
#: then librdkafka busy-polls a TLS handshake the frozen broker never completes (the class of
#: confluentinc/librdkafka#2118; not yet isolated here): 7.7 and 13.6 ms per call in two SIGSTOP runs of
#: 8 s at 80 calls/s. A whole core spinning on top of the connector's own work is ~16 ms per call at that
#: rate, which still fails; the partial spin is left open in issue 19 ("0.6 cores during SIGSTOP").
MAX_CPU_PER_CALL_S = 0.016
#: an UNAVAILABLE is answered at once: 95% of them within this share of the deadline
UNAVAILABLE_P95_SHARE = 1 / 3
HOME = HubConfig.from_env().home
#: each hub process's log name (Hub.log) by the short name the checks use
LOGS = {"sequencer": "sequencer", "court": COURT, "bank": BANK}


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A secure local broker for this module alone, on free ports, with a CA of its own: the tests kill,
    freeze and stop it. The test process speaks to it as its operator meanwhile."""
    broker = LocalBroker(tmp_path_factory.mktemp("fault-broker"), pki_dir=tmp_path_factory.mktemp("fault-pki"))
    broker.start(HOME, port=None)
    before = security.current()
    security.use(broker.operator())
    yield broker
    security.use(before)
    broker.stop()


def hub_on(broker: LocalBroker, tmp: Path) -> Hub:
    bootstrap = broker.running_bootstrap()
    assert bootstrap, "the module's broker is not running"
    return make_hub(Broker(bootstrap, "local", lambda: None, pki_dir=broker.pki_dir), tmp)


# --- the harness's figures, on made-up calls (no broker) ---------------------------------------------

def made_up(rate: float, until: float, answer: Callable[[float], tuple[str, float]]) -> list[Call]:
    """Calls issued at ``rate`` per second from 0 to ``until``; ``answer(issued)`` gives (code, latency)."""
    calls = []
    for n in range(int(until * rate)):
        issued = n / rate
        code, latency = answer(issued)
        calls.append(Call(n, issued, issued + DEADLINE_S, done=issued + latency, code=code))
    return calls


def test_recovery_is_when_publishes_are_answered_at_the_rate_again():
    # OK in 10 ms, except from 5 s to 12 s (UNAVAILABLE) and from 12 s to 14 s (OK, but in 2 s)
    def answer(t: float) -> tuple[str, float]:
        return ("UNAVAILABLE", 0.002) if 5 <= t < 12 else ("OK", 2.0 if t < 14 else 0.01)

    calls = made_up(100, 30, answer)
    # from the first call answered OK within 0.5 s: issued at 14 s, answered at 14.01 s
    assert fault_figures.recovered_at(calls, 10.0, 100, fast=0.5) == pytest.approx(14.01)
    # answered within 3 s counts the slow ones too: issued at 12 s, answered at 14 s
    assert fault_figures.recovered_at(calls, 10.0, 100, fast=3.0) == pytest.approx(14.0)
    # a 90% rate counts from the first window that holds it: with UNAVAILABLE until 10.3 s only
    early = made_up(100, 30, lambda t: ("UNAVAILABLE", 0.002) if 5 <= t < 10.3 else ("OK", 0.01))
    assert fault_figures.recovered_at(early, 10.0, 100, fast=0.5) == pytest.approx(10.31)
    assert fault_figures.recovered_at(calls[:1500], 10.0, 100, fast=0.5) is None  # the load stopped at 15 s
    assert fault_figures.recovered_at(calls, 10.0, 200, fast=0.5) is None  # never at twice the rate


def test_outcomes_count_the_calls_issued_in_a_span_by_answer():
    calls = made_up(10, 10, lambda t: ("DEADLINE_EXCEEDED", 3.0) if t < 5 else ("OK", 0.1))
    calls.append(Call(100, 9.95, 0.0))  # not answered yet: not counted
    out = fault_figures.outcomes(calls, 4.0, 6.0)
    assert (out.count("DEADLINE_EXCEEDED"), out.count("OK"), out.total) == (10, 10, 20)
    assert out.latencies["OK"] == [pytest.approx(0.1)] * 10


# --- the broker itself -------------------------------------------------------------------------------

def registration_refused_s(log_text: str) -> float:
    """How long a starting broker's registration was refused because its killed predecessor's session
    had not expired: from the first DuplicateBrokerRegistrationException to the registration that
    succeeded, per the broker log (0 when it was never refused)."""
    def at(line: str) -> float:
        return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    stamped = [x for x in log_text.splitlines() if x.startswith("[")]
    refused = [at(x) for x in stamped if "DuplicateBrokerRegistrationException" in x]
    if not refused:
        return 0.0
    registered = [at(x) for x in stamped if "Successfully registered broker" in x and at(x) >= refused[0]]
    assert registered, "the restarted broker never registered"
    return registered[0] - refused[0]


def test_the_local_broker_comes_back_on_its_port_and_data_after_kill_freeze_and_stop(kafka: LocalBroker,
                                                                                      tmp_path: Path):
    hub = hub_on(kafka, tmp_path)
    bootstrap, inbound = hub.bootstrap, Topics(hub.namespace).inbound
    items = list(freeze_orders(default_registry(), COURT, load_signing_key(hub.consortium, COURT), [BANK], 300))

    def count() -> int:
        return sum(1 for _ in read_partition(bootstrap, inbound, 0))

    produce(bootstrap, inbound, items[:100])
    port = kafka.configured_port()
    assert port is not None and bootstrap.endswith(f":{port}")

    # SIGKILL: gone at once, back on the same port with the same data, without waiting out its old session
    log_from = kafka.log_file.stat().st_size
    assert kafka.kill()
    assert kafka.pid() is None and port_free("127.0.0.1", port)
    with pytest.raises(BrokerUnavailableError):
        wait_ready(bootstrap, timeout=1)
    t0 = time.monotonic()
    assert kafka.restart(HOME) == bootstrap
    restart_s = time.monotonic() - t0
    refused = registration_refused_s(kafka.log_file.read_text(errors="replace")[log_from:])
    print(f"\n[faults] local broker: SIGKILL -> answering again in {restart_s:.1f} s, of which its registration "
          f"was refused for {refused:.1f} s (the killed broker's session)")
    assert refused < 4.0, f"the restarted broker waited {refused:.1f} s for its killed predecessor's session to expire"
    assert restart_s < 30.0
    assert count() == 100
    produce(bootstrap, inbound, items[100:200])

    # SIGSTOP: nothing answers until SIGCONT, then everything does
    kafka.freeze()
    assert kafka.frozen()
    with pytest.raises(BrokerUnavailableError):
        wait_ready(bootstrap, timeout=1)
    kafka.thaw()
    assert not kafka.frozen()
    wait_ready(bootstrap, timeout=10)
    produce(bootstrap, inbound, items[200:250])

    # a clean stop, even of a frozen broker, then a start on the same port
    kafka.freeze()
    t0 = time.monotonic()
    assert kafka.stop()
    stop_s = time.monotonic() - t0
    assert stop_s < 20.0, f"stopping a frozen broker took {stop_s:.1f} s: it was not thawed to handle SIGTERM"
    assert kafka.running_bootstrap() is None
    assert kafka.restart(HOME) == bootstrap
    produce(bootstrap, inbound, items[250:])
    assert count() == 300


# --- faults under load -------------------------------------------------------------------------------

@dataclass
class World:
    """One test's hub on the module's broker: a sequencer with /healthz and the two connectors."""

    hub: Hub
    broker: LocalBroker
    procs: dict[str, subprocess.Popen[bytes]]
    court_port: int
    bank_port: int
    healthz: str


@pytest.fixture
def world(kafka: LocalBroker, tmp_path: Path) -> Iterator[World]:
    hub = hub_on(kafka, tmp_path)
    try:
        pf = tmp_path / "sequencer.health-port"
        seq = hub.start("sequencer", "sequencer", "run", "--partition", "0", "--health-listen", "127.0.0.1:0",
                        "--health-port-file", str(pf))
        hub.wait_for(lambda: "ready" in hub.log("sequencer") and pf.exists() and pf.read_text().strip() != "",
                     "the sequencer ready, with /healthz", seq)
        court, court_port = hub.connector(COURT)
        bank, bank_port = hub.connector(BANK)
        yield World(hub, kafka, {"sequencer": seq, "court": court, "bank": bank}, court_port, bank_port,
                    f"http://127.0.0.1:{int(pf.read_text())}/healthz")
    finally:
        # whatever happened, leave the broker running for the next test and the processes' shutdown
        if kafka.frozen():
            kafka.thaw()
        if kafka.running_bootstrap() is None:
            kafka.restart(HOME)
        hub.stop_all()


def test_broker_sigkill_then_restart(world: World):
    b = world.broker
    under_load(world, f"SIGKILL, restart after {KILL_PAUSE_S:g} s", b.kill, KILL_PAUSE_S, lambda: b.restart(HOME))


def test_broker_sigstop_then_sigcont(world: World):
    b = world.broker
    under_load(world, f"SIGSTOP for {STOP_S:g} s, then SIGCONT", b.freeze, STOP_S, b.thaw)


def test_broker_down_then_started_again(world: World):
    b = world.broker
    bad_while_down: list[str] = []

    def release() -> None:
        # the connector has known for seconds that Kafka is away: a bad request is still told what is wrong
        # with it (not UNAVAILABLE, which would have the caller retry it as it is)
        bad = json.dumps(dict(json.loads(faults.order_json(10**6)), amount="-1.00"), ensure_ascii=False)
        with grpc.insecure_channel(f"127.0.0.1:{world.court_port}") as channel:
            try:
                pb_grpc.ConnectorStub(channel).Publish(pb.PublishRequest(
                    type=faults.ORDER, recipients=[BANK], payload_json=bad), timeout=5)
                bad_while_down.append("OK")
            except grpc.RpcError as exc:
                bad_while_down.append(exc.code().name)
        b.restart(HOME)

    under_load(world, f"stopped for {DOWN_S:g} s, then started", b.stop, DOWN_S, release)
    assert bad_while_down == ["INVALID_ARGUMENT"], bad_while_down


def under_load(world: World, name: str, inject: Callable[[], object], hold_s: float,
               release: Callable[[], object]) -> None:
    """Run the fault under the load, wait for the dust to settle, then check everything; print the figures
    and fail with every check that did not hold."""
    hub, procs = world.hub, world.procs
    failed: list[str] = []
    with contextlib.ExitStack() as watching:  # the probes and the subscriber stop before the checks
        probe = HealthProbe({"court": faults.grpc_health(world.court_port), "bank": faults.grpc_health(world.bank_port),
                             "sequencer": faults.http_health(world.healthz)}).start()
        watching.callback(probe.stop)
        subscriber = Subscriber(world.bank_port).start()
        watching.callback(subscriber.stop)
        load = PublishLoad(world.court_port, rate=RATE, deadline_s=DEADLINE_S, key_prefix=uuid.uuid4().hex).start()
        tl = Timeline(name)
        try:
            fault_figures.run_fault(load, tl, hub.bootstrap, inject, hold_s, release,
                                    pids={n: p.pid for n, p in procs.items()}, recover_timeout=RECOVER_WITHIN_S)
        finally:
            fault_figures.finish(load, tl)
            load.close()
        settled = settle(world, probe, subscriber, load.calls, tl, failed)
    ledger = faults.read_ledger(hub.bootstrap, hub.namespace, hub.consortium)
    check(world, probe, subscriber, load.calls, ledger, tl, failed)
    if settled:
        try:
            check_partition(hub, 0)
        except AssertionError as exc:
            failed.append(f"the ledger partition's invariants: {exc}")
    audit = hub.run("audit", "--quiet", "--reconcile", timeout=300)
    if audit.returncode != 0:
        failed.append(f"`hub audit --quiet` exited {audit.returncode}: {(audit.stdout + audit.stderr)[-1500:]}")
    print(report(tl, probe, subscriber, load.calls, ledger, failed))
    assert not failed, f"{name}: {len(failed)} checks failed:\n- " + "\n- ".join(failed)


def settle(world: World, probe: HealthProbe, subscriber: Subscriber, calls: list[Call], tl: Timeline,
           failed: list[str]) -> bool:
    """After the load: wait for SERVING, for the sequencer to consume everything and for the bank to
    receive every order answered OK. Whether the sequencer caught up."""
    hub = world.hub
    limit = time.monotonic() + 30
    for name in ("court", "bank", "sequencer"):
        probe.wait_for(name, "SERVING", tl.back_at, max(0.0, limit - time.monotonic()))
    seq = world.procs["sequencer"]
    caught = False
    if seq.poll() is None:
        try:
            hub.wait_for(lambda: caught_up(hub, 0), "the sequencer to consume every inbound record", seq, timeout=60)
            caught = True
        except (AssertionError, HubError) as exc:
            failed.append(str(exc).splitlines()[0])
    ok = {c.message_id for c in calls if c.code == "OK"}
    bank = world.procs["bank"]
    if bank.poll() is None:
        try:
            hub.wait_for(lambda: ok <= subscriber.message_ids(), "the bank to receive every order answered OK",
                         bank, timeout=30)
        except AssertionError:
            pass  # reported by check() with the missing ones
    return caught


def check(world: World, probe: HealthProbe, subscriber: Subscriber, calls: list[Call],
          ledger: list[faults.Notarised], tl: Timeline, failed: list[str]) -> None:
    """Every check of the module's docstring, each failure appended to ``failed`` with its figures."""
    for name, p in world.procs.items():
        if p.poll() is not None:
            failed.append(f"the {name} process exited with {p.returncode} (it must ride the fault out):\n"
                          + world.hub.log(LOGS[name])[-1500:])

    if tl.pre_per_s < 0.9 * RATE:
        failed.append(f"the hub did not keep up with the load before the fault: {tl.pre_per_s:.0f} OK/s of {RATE:g} "
                      f"offered (p99 {tl.pre_p99_s * 1000:.0f} ms), so the figures after it say little; is the "
                      "machine busy with something else?")
    codes = Counter(c.code for c in calls)
    unanswered = [c for c in calls if c.done is None]
    if unanswered:
        failed.append(f"{len(unanswered)} calls were never answered, not even at their deadline")
    odd = {k: v for k, v in codes.items() if k not in {"OK", "", *faults.OUTAGE_CODES}}
    if odd:
        example = next(c for c in calls if c.code in odd)
        failed.append(f"answers other than OK, DEADLINE_EXCEEDED, UNAVAILABLE, RESOURCE_EXHAUSTED: {odd} "
                      f"(e.g. #{example.n}: {example.code} {example.detail[:200]})")
    # OK with REJECTED EXPIRED is the sequencer's refusal of a record that reached it past its deliver-by
    # time, answered before the deadline: the caller is told it failed, as with DEADLINE_EXCEEDED
    expired = [c for c in calls if c.code == "OK" and c.receipt == "REJECTED EXPIRED"]
    ok = [c for c in calls if c.code == "OK" and c.receipt != "REJECTED EXPIRED"]
    refused = Counter(c.receipt for c in ok if c.receipt != "ACCEPTED")
    if refused:
        failed.append(f"calls answered OK with a receipt other than ACCEPTED or REJECTED EXPIRED: {dict(refused)}")
    expired_ids = {c.message_id for c in expired}

    # the ledger: nothing twice; every OK once; nothing that timed out notarised after its deadline
    by_id = Counter(e.message_id for e in ledger)
    by_account = Counter(e.account for e in ledger)
    twice = [m for m, k in by_id.items() if k > 1]
    if twice:
        failed.append(f"{len(twice)} message ids on the ledger more than once, e.g. {twice[:3]}")
    orders_twice = [a for a, k in by_account.items() if k > 1]
    if orders_twice:
        failed.append(f"{len(orders_twice)} orders on the ledger more than once (under different message ids), "
                      f"e.g. accounts {orders_twice[:3]}")
    on_ledger_expired = [m for m in expired_ids if by_id[m] > 0]
    if on_ledger_expired:
        failed.append(f"{len(on_ledger_expired)} messages refused as EXPIRED are on the ledger, e.g. "
                      f"{on_ledger_expired[:3]}")
    missing = [c for c in ok if by_id[c.message_id] == 0]
    if missing:
        failed.append(f"{len(missing)} of {len(ok)} calls answered OK are not on the ledger, e.g. "
                      f"{[c.message_id for c in missing[:3]]}")
    entry = {e.account: e for e in ledger}
    late = [(c, entry[c.account].notarised_at - c.deadline_wall) for c in calls
            if c.code in faults.OUTAGE_CODES and c.account in entry
            and entry[c.account].notarised_at > c.deadline_wall]
    if late:
        worst = max(late, key=lambda x: x[1])
        failed.append(f"{len(late)} calls answered {dict(Counter(c.code for c, _ in late))} were notarised after "
                      f"their deadline (worst: #{worst[0].n}, {worst[1] * 1000:.0f} ms after)")

    # the bank: every OK delivered once
    delivered = Counter(d.message_id for d in subscriber.deliveries)
    undelivered = [c for c in ok if delivered[c.message_id] == 0]
    if undelivered:
        failed.append(f"{len(undelivered)} of {len(ok)} calls answered OK never reached the bank's subscriber, e.g. "
                      f"{[c.message_id for c in undelivered[:3]]}")
    if subscriber.unreadable:
        failed.append(f"{len(subscriber.unreadable)} messages reached the bank without their payload, e.g. "
                      f"{subscriber.unreadable[:3]} (payload_unavailable)")
    again = {m: k for m, k in delivered.items() if k > 1}
    if again:
        failed.append(f"{len(again)} messages delivered to the bank more than once, e.g. {list(again)[:3]}")

    # the outage: once the court connector says NOT_SERVING, it answers at once (those in flight when Kafka
    # faltered wait for it to notice: they are figures, not checks)
    while_down = [c for c in calls if c.done is not None and probe.status_at("court", c.issued) == "NOT_SERVING"]
    held = [c for c in while_down if c.code == "DEADLINE_EXCEEDED"]
    if len(held) > 0.1 * max(len(while_down), 1):
        failed.append(f"{len(held)} of {len(while_down)} calls issued while the court connector said NOT_SERVING "
                      "were held to their deadline (DEADLINE_EXCEEDED) instead of answered at once")
    unavailable = [c.latency for c in while_down if c.code == "UNAVAILABLE"]
    if unavailable and faults.percentile(unavailable, 0.95) > DEADLINE_S * UNAVAILABLE_P95_SHARE:
        failed.append(f"UNAVAILABLE is slow while the court connector says NOT_SERVING: p95 "
                      f"{faults.percentile(unavailable, 0.95) * 1000:.0f} ms of a {DEADLINE_S:g} s deadline")

    # health: NOT_SERVING during the outage, SERVING after
    for name in ("court", "bank", "sequencer"):
        if probe.first(name, "NOT_SERVING", tl.fault_at, tl.back_at) is None:
            failed.append(f"{name} health never said NOT_SERVING during the {tl.outage_s:.1f} s outage "
                          f"(it said {probe.seen(name, tl.fault_at, tl.back_at)})")
        if probe.first(name, "SERVING", tl.back_at) is None or probe.last(name) != "SERVING":
            failed.append(f"{name} health is not SERVING after the outage (it said "
                          f"{probe.seen(name, tl.back_at, float('inf'))}, last {probe.last(name)})")

    if tl.recovery_s is None or tl.recovery_s > RECOVER_WITHIN_S:
        failed.append(f"publishes never came back to 90% of the {RATE:g}/s offered (answered OK within "
                      f"{tl.fast_s * 1000:.0f} ms) in the {RECOVER_WITHIN_S:g} s after the broker answered again")
    before, cores = tl.cpu["court"]
    answered = sum(1 for c in calls if c.done is not None and tl.fault_at <= c.done < tl.back_at)
    # answering the calls that keep coming costs a few ms each; a spinning client thread costs a core
    if not cores < MAX_CORES and cores * tl.outage_s / max(answered, 1) > MAX_CPU_PER_CALL_S:
        failed.append(f"the court connector used {cores:.2f} cores during the outage (at most {MAX_CORES}; "
                      f"{before:.2f} before it): {cores * tl.outage_s / max(answered, 1) * 1000:.1f} ms of CPU "
                      f"for each of the {answered} calls it answered meanwhile")


def report(tl: Timeline, probe: HealthProbe, subscriber: Subscriber, calls: list[Call],
           ledger: list[faults.Notarised], failed: list[str]) -> str:
    """The test's figures, as the closing note quotes them (times from the fault's start)."""
    def rel(t: float | None) -> str:
        return "never" if t is None else f"+{t - tl.fault_at:.1f} s"

    recovery = "-" if tl.recovery_s is None else f"{tl.recovery_s:.2f}"
    noticed = [c for c in calls if probe.status_at("court", c.issued) == "NOT_SERVING"]
    lines = [
        f"\n[faults] {tl.name}: load {RATE:g}/s, deadline {DEADLINE_S:g} s",
        f"  before the fault: {tl.pre_per_s:.0f} OK/s, p99 {tl.pre_p99_s * 1000:.0f} ms",
        f"  broker: fault at +0.0 s, released at {rel(tl.released_at)}, answering again at {rel(tl.back_at)}",
        (f"  recovery_s {recovery} (broker answering -> publishes answered OK at >= 90% of {RATE:g}/s within "
         f"{tl.fast_s * 1000:.0f} ms)"),
        f"  calls issued during the outage: {fault_figures.outcomes(calls, tl.fault_at, tl.back_at).describe()}",
        ("    of which while the court connector said NOT_SERVING: "
         f"{fault_figures.outcomes(noticed, tl.fault_at, tl.back_at).describe()}"),
        f"  all calls: {fault_figures.outcomes(calls, 0, float('inf')).describe()}",
    ]
    for name in ("court", "bank", "sequencer"):
        lines.append(f"  {name} health: NOT_SERVING at {rel(probe.first(name, 'NOT_SERVING', tl.fault_at))}, "
                     f"SERVING again at {rel(probe.first(name, 'SERVING', tl.back_at))}; seen "
                     f"{probe.seen(name, tl.fault_at, float('inf'))}")
    lines.append("  cores before / during the outage: " + ", ".join(
        f"{n} {before:.2f} / {during:.2f}" for n, (before, during) in tl.cpu.items()))
    lines.append(f"  ledger {len(ledger)} entries; bank received {len(subscriber.deliveries)} messages, "
                 f"{len(subscriber.breaks)} broken streams {dict(Counter(s for _, s in subscriber.breaks))}, "
                 f"{len(subscriber.ack_failures)} failed acks")
    lines.append(f"  FAILED {len(failed)} checks" if failed else "  all checks held")
    return "\n".join(lines)
