"""`make chaos`'s recovery figures: how soon the court's publishes succeed again after Kafka comes back.

Figures (printed, and written to bench/out/recovery.json under these keys):

recovery_s          from the local broker answering a metadata request again, after a SIGKILL and a
                    restart on the same port and data, to Publish calls being answered OK at 90% of the
                    offered rate or better, within three times their pre-fault p99 (0.5 s at least): the
                    median of the rounds (tests/integration/fault_figures.py, recovered_at, says exactly how).
                    Target: 5 s at most. _max: the slowest round's.
broker_restart_s    starting the killed broker again (LocalBroker.restart) -> it answering a metadata request
                    (median).
outage_unavailable_p50_ms / _p95_ms
                    the answer time of the calls answered UNAVAILABLE while the broker was away (all rounds)
outage_deadline_exceeded_share
                    the share of the calls issued while the broker was away answered DEADLINE_EXCEEDED

The load: freeze orders court -> bank through a real connector (`hub connector run`), Publish with
wait_for_receipt, a 3 s deadline and an idempotency key per call, at BENCH_RECOVERY_RATE calls/s
(default 100, as tests/integration/test_kafka_faults.py runs, which says why), a real sequencer
(`hub sequencer run`). BENCH_RECOVERY_ROUNDS (default 3) kills, each
BENCH_RECOVERY_PAUSE_S (default 5) seconds before the restart. It always runs a local broker of its own
(it kills it), whatever HUB_KAFKA_BOOTSTRAP says: secure, as `hub kafka up` runs it (mutual TLS from a
consortium PKI made in the work dir, the namespace's ACLs; this process speaks as the operator, the
sequencer and the court's connector as their own principals, so every reconnection after the restart
is a TLS handshake); BENCH_RECOVERY_PLAINTEXT=1 runs it plaintext instead (development only; the
figures before 2026-12-07 18:00 were measured so).

Reproduce: .venv/bin/python bench/recovery.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from figures import write_figures  # bench/figures.py: this script's directory is on the path

from connectors import dev_members
from hub.config import HubConfig, default_home
from hub.consortium.pki import DevCA, issue_member, pki_files
from hub.dev.consortium import init_dev
from hub.kafka import security
from hub.kafka.acls import apply_acls
from hub.kafka.local import LocalBroker
from hub.kafka.topics import ensure_topics, topic_specs

# the harness is the fault tests' own (tests/integration/faults.py, fault_figures.py); tests/ is not installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration import fault_figures, faults

OUT = Path(__file__).parent / "out"
TARGET_S = 5.0


def log(msg: str) -> None:
    print(f"[recovery {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Processes:
    """The hub's processes for one namespace, their output in ``workdir``; on a secure broker (``pki``
    given) each member with a Kafka certificate and the namespace's ACLs applied, as an operator
    admits a membership, else speaking plaintext (the settings of the ``properties`` file)."""

    def __init__(self, bootstrap: str, workdir: Path, *, pki: Path | None, properties: Path | None) -> None:
        self.workdir = workdir
        namespace = f"recovery{uuid.uuid4().hex[:8]}"
        consortium = workdir / "consortium"
        cfg = HubConfig(bootstrap=bootstrap, namespace=namespace, consortium=consortium)
        membership, _ = init_dev(consortium, dev_members())
        ensure_topics(bootstrap, cfg, topic_specs(cfg, list(membership.members)))
        if pki is not None:
            ca = DevCA.load(pki)
            for m in membership.members.values():
                if not pki_files(pki, m.id).client_cert.exists():
                    issue_member(ca, pki, m.id, m.name)
            apply_acls(bootstrap, namespace, membership)
            kafka = {"HUB_PKI": str(pki)}
        else:
            kafka = {"HUB_KAFKA_CONFIG": str(properties)}
        inherited = {k: v for k, v in os.environ.items() if k not in ("HUB_PKI", "HUB_KAFKA_CONFIG")}
        self.env = {**inherited, "HUB_KAFKA_BOOTSTRAP": bootstrap, "HUB_NAMESPACE": namespace,
                    "HUB_CONSORTIUM": str(consortium), "HUB_HOME": str(workdir / "home"), **kafka,
                    "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str, ready: str | None = None, port_file: Path | None = None) -> \
            subprocess.Popen[bytes]:
        """`hub ARGS...`, once its log says ``ready`` and ``port_file`` holds a port."""
        out = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], env=self.env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        deadline = time.monotonic() + 120
        while not ((ready is None or ready in self.log(name))
                   and (port_file is None or (port_file.exists() and port_file.read_text().strip() != ""))):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start: {self.log(name)[-2000:]}")
            time.sleep(0.05)
        return proc

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main() -> None:
    rounds = int(os.environ.get("BENCH_RECOVERY_ROUNDS", "3"))
    pause = float(os.environ.get("BENCH_RECOVERY_PAUSE_S", "5"))
    rate = float(os.environ.get("BENCH_RECOVERY_RATE", "100"))
    if rounds < 1:
        raise SystemExit(f"BENCH_RECOVERY_ROUNDS={rounds}: at least one round")
    plaintext = os.environ.get("BENCH_RECOVERY_PLAINTEXT", "") == "1"
    home = default_home()
    workdir = Path(tempfile.mkdtemp(prefix="hub-recovery-"))
    pki, properties = workdir / "pki", workdir / "plaintext.properties"
    if plaintext:
        properties.write_text("security.protocol=plaintext\n")
    broker = LocalBroker(workdir / "broker", pki_dir=None if plaintext else pki)
    bootstrap = broker.start(home, port=None)
    security.use(broker.operator())  # this process: the topics, the ACLs, and asking whether the broker is back
    hub = Processes(bootstrap, workdir, pki=None if plaintext else pki, properties=properties if plaintext else None)
    try:
        log(f"local broker ({'plaintext' if plaintext else 'mutual TLS'}) at {bootstrap}; work dir {workdir}")
        seq = hub.start("sequencer", "sequencer", "run", "--partition", "0", ready="ready")
        pf = workdir / "court.port"
        court = hub.start("court", "connector", "run", "--agency", faults.COURT, "--plaintext",
                          "--listen", "127.0.0.1:0", "--port-file", str(pf), port_file=pf)
        port = int(pf.read_text())
        timelines: list[fault_figures.Timeline] = []
        restarts: list[float] = []
        calls: list[faults.Call] = []
        for r in range(rounds):
            load = faults.PublishLoad(port, rate=rate, deadline_s=3.0, key_prefix=f"round{r}").start()
            tl = fault_figures.Timeline(f"round {r + 1}")
            killed: list[float] = []

            def kill(killed: list[float] = killed) -> None:
                broker.kill()
                killed.append(time.monotonic())

            try:
                fault_figures.run_fault(load, tl, bootstrap, kill, pause, lambda: broker.restart(home),
                                 pids={"court": court.pid, "sequencer": seq.pid})
            finally:
                fault_figures.finish(load, tl)
                load.close()
            restarts.append(tl.back_at - tl.released_at)
            if tl.pre_per_s < 0.9 * rate:
                log(f"round {r + 1}: the hub answered only {tl.pre_per_s:.0f} of {rate:g} calls/s OK before the "
                    "fault: its recovery figure says little")
            during = fault_figures.outcomes(load.calls, tl.fault_at, tl.back_at)
            log(f"round {r + 1}: broker back {restarts[-1]:.1f} s after its restart; recovery_s "
                f"{'-' if tl.recovery_s is None else f'{tl.recovery_s:.2f}'}; pre-fault {tl.pre_per_s:.0f} OK/s; "
                f"during the outage: {during.describe()}")
            timelines.append(tl)
            calls.extend(c for c in load.calls if tl.fault_at <= c.issued < tl.back_at)
        for name, p in (("sequencer", seq), ("court", court)):
            if p.poll() is not None:
                log(f"the {name} process exited with {p.returncode} during the run: {hub.log(name)[-1500:]}")
    finally:
        hub.stop()
        broker.stop()

    recovered = [tl.recovery_s for tl in timelines if tl.recovery_s is not None]
    unavailable = [c.latency for c in calls if c.code == "UNAVAILABLE"]
    results = {
        "broker_restart_s": statistics.median(restarts),
        "outage_unavailable_p50_ms": faults.percentile(unavailable, 0.5) * 1000,
        "outage_unavailable_p95_ms": faults.percentile(unavailable, 0.95) * 1000,
        "outage_deadline_exceeded_share": sum(c.code == "DEADLINE_EXCEEDED" for c in calls) / max(len(calls), 1),
    }
    if len(recovered) == len(timelines):
        results["recovery_s"] = statistics.median(recovered)
        results["recovery_s_max"] = max(recovered)
    write(results, rounds, pause, rate, "plaintext" if plaintext else "mutual TLS")
    if len(recovered) < len(timelines):
        raise SystemExit(f"recovery_s: publishes did not come back to {rate:g}/s within 30 s of the broker "
                         f"answering in {len(timelines) - len(recovered)} of {len(timelines)} rounds")
    verdict = "meets" if results["recovery_s"] <= TARGET_S else "misses"
    print(f"\nrecovery_s {results['recovery_s']:.2f} (median of {rounds}; max {results['recovery_s_max']:.2f}) "
          f"{verdict} the target of {TARGET_S:g} s. Reproduce: .venv/bin/python bench/recovery.py")


def write(results: dict[str, float], rounds: int, pause: float, rate: float, kafka: str) -> None:
    doc: dict[str, object] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": rounds,
                              "pause_s": pause, "rate": rate, "kafka": kafka, "cpus": os.cpu_count()}
    write_figures(OUT / "recovery.json", doc, {k: round(v, 3) for k, v in results.items()})

if __name__ == "__main__":
    main()
