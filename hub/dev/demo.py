"""`hub demo`: a freeze order from a court to a bank and the bank's feedback, on real
processes and a real broker, ending with the auditor's verdict.

The court's and the bank's own systems are played here as plain gRPC clients; the
sequencer and the two connectors are separate `hub` processes, stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import grpc

from hub.config import HubConfig
from hub.consortium.files import init_dev
from hub.consortium.membership import Membership
from hub.consortium.pki import DevCA, issue_member
from hub.errors import HubError
from hub.kafka.provision import provision
from hub.kafka.topics import ensure_topics, topic_specs
from hub.rpc.server import client_credentials_from_pki
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc

COURT = "court-bj-chaoyang"
BANK = "bank-icbc-bj"
CREDIT = "credit-platform-national"
JUSTICE = "justice-bureau-bj"
CREDIT_NS = "cn.judicial.hub.credit"
LAWYERS_NS = "cn.judicial.hub.lawyers"
FREEZE_ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
FREEZE_FEEDBACK = "cn.judicial.hub.enforcement.FreezeFeedback"
CST = timezone(timedelta(hours=8))


def say(who: str, text: str) -> None:
    click.echo(f"{click.style(f'[{who}]', bold=True):<24} {text}")


def hub_cmd(cfg: HubConfig, bootstrap: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "hub.cli", "--bootstrap", bootstrap, "--namespace", cfg.namespace,
            "--home", str(cfg.home), "--consortium", str(cfg.consortium_dir), "--partitions", str(cfg.partitions), *args]


class Processes:
    """Child `hub` processes, each with its own log file, stopped by SIGTERM on exit."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with open(self.logdir / f"{name}.log", "wb") as log:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise HubError(f"{name} exited with code {proc.returncode}: {' '.join(tail)}")

    def stop_all(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_port_file(procs: Processes, path: Path, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise HubError(f"a connector did not start within {timeout:.0f}s")


@contextmanager
def channel(port: int, credentials: grpc.ChannelCredentials) -> Iterator[pb_grpc.ConnectorStub]:
    with grpc.secure_channel(f"localhost:{port}", credentials) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield pb_grpc.ConnectorStub(ch)


def freeze_order(case_no: str, now: datetime) -> dict[str, Any]:
    return {
        "case_number": case_no,
        "document_number": case_no.replace("执", "执") + "之一",
        "court_name": "北京市朝阳区人民法院",
        "judge": "王建国",
        "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                    "id_number": "91110105MA01ABCD2X"},
        "account_number": "0200001234567890123",
        "amount": "1286400.50",
        "currency": "CNY",
        "freeze_from": now.isoformat(),
        "freeze_until": (now + timedelta(days=365)).isoformat(),
        "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条",
        "response_deadline": (now + timedelta(days=1)).isoformat(),
    }


def run_demo(cfg: HubConfig) -> int:
    t0 = time.monotonic()
    click.echo("== The judicial interoperability hub: a freeze order and its feedback ==")
    broker = provision(cfg.home, cfg.broker_dir, port=19092 if not cfg.bootstrap else None)
    bootstrap = broker.bootstrap
    say("hub", f"Kafka ({broker.kind}) at {bootstrap}")
    membership, created = init_dev(cfg.consortium_dir)
    say("hub", f"{'created' if created else 'using'} consortium {membership.consortium!r} in {cfg.consortium_dir}")
    for m in membership.members.values():
        say("hub", f"  member {m.id} ({', '.join(sorted(m.roles))}) {m.name}, key {m.keys[0].key_id}")
    ensure_topics(bootstrap, cfg, topic_specs(cfg, list(membership.members)))
    ca = DevCA.load(cfg.pki_dir) if (cfg.pki_dir / "ca.pem").exists() else DevCA.create(cfg.pki_dir)
    agencies = [m for m in (COURT, BANK, CREDIT, JUSTICE) if m in membership.members]
    for member in agencies:
        if not (cfg.pki_dir / member / "server.pem").exists():
            issue_member(ca, cfg.pki_dir, member, membership.members[member].name)
    say("hub", f"development CA {ca.name} in {cfg.pki_dir}: connectors accept only their agency's client "
               "certificate (mTLS)")

    logdir = Path(tempfile.mkdtemp(prefix="hub-demo-"))
    procs = Processes(logdir)
    try:
        procs.start("sequencer", hub_cmd(cfg, bootstrap, "sequencer", "run", "--partition", "0"))
        ports = {}
        for member in agencies:
            pf = logdir / f"{member}.port"
            procs.start(member, hub_cmd(cfg, bootstrap, "connector", "run", "--agency", member,
                                        "--listen", "127.0.0.1:0", "--port-file", str(pf)))
            ports[member] = wait_port_file(procs, pf)
            say("hub", f"connector for {member} serving gRPC with mTLS on 127.0.0.1:{ports[member]} (pid "
                       f"{procs.procs[-1][1].pid})")
        say("hub", f"sequencer for {cfg.namespace}.ledger[0] running (pid {procs.procs[0][1].pid}); logs in {logdir}")
        creds = {m: client_credentials_from_pki(cfg.pki_dir, m) for m in agencies}
        verdict, order_id = _story(cfg, ports, procs, creds)
        if verdict == 0 and CREDIT in ports and JUSTICE in ports:
            _credit_and_lawyers(ports, creds)
        elif verdict == 0:
            say("hub", f"(this consortium predates {CREDIT} and {JUSTICE}: `hub agency init --force` adds them)")
    finally:
        procs.stop_all()  # the sequencer signs a last checkpoint covering every entry as it stops
    if verdict != 0:
        return verdict
    receipt_ok, policy, tiles = _witness_and_receipt(cfg, bootstrap, membership, order_id, logdir)
    click.echo("")
    say("auditor", "hub audit: replaying the ledger from index 0, and checking the witnessed checkpoint "
                   f"against the trust policy {policy.name}")
    audit = subprocess.run(hub_cmd(cfg, bootstrap, "audit", "--partition", "0", "--policy", str(policy),
                                   "--cosigned-from", str(tiles), "--report", str(logdir / "audit.json"),
                                   "--html", str(logdir / "audit.html")),
                           capture_output=True, text=True, check=False)
    for line in (audit.stdout + audit.stderr).strip().splitlines():
        say("auditor", line)
    say("auditor", f"reports for the supervisor: {logdir / 'audit.html'} and {logdir / 'audit.json'}")
    click.echo(f"\n(demo took {time.monotonic() - t0:.1f}s; the broker keeps running: `hub kafka down` stops it)")
    return audit.returncode or (0 if receipt_ok else 1)


def _next_message(stub: pb_grpc.ConnectorStub, match: Callable[[pb.Message], bool],
                  timeout: float = 60.0) -> pb.Message:
    """Read the agency's stream, acknowledging as it goes, until a message matches."""
    found: queue.Queue[pb.Message | BaseException] = queue.Queue()
    stream = stub.Subscribe(pb.SubscribeRequest())

    def pump() -> None:
        try:
            for d in stream:
                stub.Ack(pb.AckRequest(cursor=d.cursor))
                if d.WhichOneof("item") == "message" and match(d.message):
                    found.put(d.message)
                    return
        except (grpc.RpcError, ValueError) as exc:
            found.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    try:
        got = found.get(timeout=timeout)
    except queue.Empty:
        raise HubError(f"no matching message arrived within {timeout:.0f} s") from None
    finally:
        stream.cancel()
    if isinstance(got, BaseException):
        raise HubError(f"an agency's stream failed: {got}")
    return got


def _credit_and_lawyers(ports: dict[str, int], creds: dict[str, grpc.ChannelCredentials]) -> None:
    """A defaulter listing and the credit platform's feedback; a lawyer's licence issued and
    revoked by the justice bureau, and the court's lookups before and after."""
    now = datetime.now(CST).replace(microsecond=0)
    case_no = f"（{now.year}）京0105执{now.strftime('%H%M%S')}号"
    with channel(ports[COURT], creds[COURT]) as court, channel(ports[CREDIT], creds[CREDIT]) as credit, \
            channel(ports[JUSTICE], creds[JUSTICE]) as justice:
        click.echo("")
        listing = {
            "case_number": case_no, "document_number": f"{case_no}决定书", "court_name": "北京市朝阳区人民法院",
            "subject": {"name": "北京恒远商贸有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                        "id_number": "91110105MA01R2XK3L"},
            "legal_representative": "赵六", "grounds": ["ABLE_BUT_REFUSES"],
            "obligation": "向王五支付货款人民币352800.00元及逾期付款利息", "outstanding_amount": "352800.00",
            "currency": "CNY", "listed_at": now.isoformat(), "listed_until": (now + timedelta(days=730)).isoformat(),
            "legal_basis": "《中华人民共和国民事诉讼法》第二百六十六条",
        }
        r = court.Publish(pb.PublishRequest(type=f"{CREDIT_NS}.DefaulterListing", recipients=[CREDIT],
                                            payload_json=json.dumps(listing, ensure_ascii=False),
                                            wait_for_receipt=True), timeout=30)
        say("court system", f"lists {listing['subject']['name']} as a judgment defaulter (失信被执行人), {case_no}: "  # type: ignore[index]
                            f"ledger index {r.receipt.ledger_index}")
        got = _next_message(credit, lambda m: m.message_id == r.message_id)
        say("credit platform", f"received DefaulterListing {got.message_id} from {got.sender}; applying it")
        feedback = {"case_number": case_no, "document_number": f"{case_no}决定书", "action": "LISTED",
                    "status": "APPLIED", "applied_at": datetime.now(CST).isoformat(),
                    "platform_reference": f"XY-SX-{now.strftime('%Y%m%d%H%M%S')}", "note": ""}
        f = credit.Publish(pb.PublishRequest(type=f"{CREDIT_NS}.CreditActionFeedback", recipients=[COURT],
                                             correlation_id=r.message_id,
                                             payload_json=json.dumps(feedback, ensure_ascii=False),
                                             wait_for_receipt=True), timeout=30)
        back = _next_message(court, lambda m: m.correlation_id == r.message_id)
        say("court system", f"credit platform feedback {back.message_id}: {json.loads(back.payload_json)['status']} "
                            f"({feedback['platform_reference']}), ledger index {f.receipt.ledger_index}")

        click.echo("")
        licence = "11" + now.strftime("%y%m%d%H%M%S") + f"{random.randrange(1000):03d}"  # 17 digits, new each run
        issued = {"license_number": licence, "lawyer": {"name": "陈静", "id_type": "RESIDENT_ID",
                                                        "id_number": "110102199004204321"},
                  "law_firm": "北京市正衡律师事务所", "law_firm_credit_code": "31110000E00017891P",
                  "practice_kind": "FULL_TIME", "decision_number": f"京司律准字〔{now.year}〕第{now.strftime('%H%M')}号",
                  "issuing_authority": "北京市司法局", "issued_at": now.isoformat()}
        i = justice.Publish(pb.PublishRequest(type=f"{LAWYERS_NS}.LawyerCredentialIssued", recipients=[COURT],
                                              payload_json=json.dumps(issued, ensure_ascii=False),
                                              wait_for_receipt=True), timeout=30)
        say("justice bureau", f"licenses lawyer 陈静 ({licence}): ledger index {i.receipt.ledger_index}")
        lookup = _lookup_until(court, licence, pb.LookupCredentialResponse.ACTIVE)
        say("court system", f"LookupCredential {licence}: {pb.LookupCredentialResponse.Status.Name(lookup.status)} "
                            f"since {lookup.since}")
        revoked = {"license_number": licence, "lawyer_name": "陈静", "decision_number":
                   f"京司罚决字〔{now.year}〕第{now.strftime('%H%M')}号", "reason": "REVOKED_AS_PENALTY",
                   "revoked_at": datetime.now(CST).isoformat(), "issuing_authority": "北京市司法局"}
        v = justice.Publish(pb.PublishRequest(type=f"{LAWYERS_NS}.LawyerCredentialRevoked", recipients=[COURT],
                                              payload_json=json.dumps(revoked, ensure_ascii=False),
                                              wait_for_receipt=True), timeout=30)
        say("justice bureau", f"revokes licence {licence}: ledger index {v.receipt.ledger_index}")
        after = _lookup_until(court, licence, pb.LookupCredentialResponse.REVOKED)
        before_at = (datetime.fromisoformat(v.receipt.notarised_at)
                     - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        before = court.LookupCredential(pb.LookupCredentialRequest(license_number=licence, at=before_at))
        say("court system", f"LookupCredential {licence} at {before_at}: "
                            f"{pb.LookupCredentialResponse.Status.Name(before.status)}; now: "
                            f"{pb.LookupCredentialResponse.Status.Name(after.status)} (ledger index {after.ledger_index})")


def _lookup_until(court: pb_grpc.ConnectorStub, licence: str, want: int,
                  timeout: float = 30.0) -> pb.LookupCredentialResponse:
    deadline = time.monotonic() + timeout
    while True:
        got: pb.LookupCredentialResponse = court.LookupCredential(
            pb.LookupCredentialRequest(license_number=licence))
        if got.status == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


WITNESS = "witness.procuratorate-bj-chaoyang/w1"


def _http(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


def _witness_and_receipt(cfg: HubConfig, bootstrap: str, membership: Membership, order_id: str,
                         logdir: Path) -> tuple[bool, Path, Path]:
    """A witness run by the procuratorate cosigns the verifier's checkpoint; the court's order gets a
    receipt that is then verified with no network against the trust policy (C2SP tlog-policy) naming
    the log's key and that witness. Whether the receipt verifies, the policy file, the verifier's
    directory (with the cosigned checkpoint)."""
    from hub.consortium.files import load_signing_key
    from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin

    click.echo("")
    origin_ = origin(membership.consortium, cfg.namespace, 0)
    log_vkey = log_verifier(load_signing_key(cfg.consortium_dir, SEQUENCER_MEMBER).public.raw, origin_).to_vkey()
    wdir = logdir / "witness"
    wdir.mkdir()
    init = subprocess.run(hub_cmd(cfg, bootstrap, "witness", "init", "--name", WITNESS, "--key",
                                  str(wdir / "key.pem")), capture_output=True, text=True, check=False)
    if init.returncode != 0:
        raise HubError(f"witness init failed: {init.stderr.strip()}")
    witness_vkey = init.stdout.strip().splitlines()[-1]
    procs = Processes(logdir)
    try:
        procs.start("witness", hub_cmd(cfg, bootstrap, "witness", "run", "--name", WITNESS, "--key",
                                       str(wdir / "key.pem"), "--state", str(wdir / "state.json"), "--log",
                                       f"{origin_} {log_vkey}", "--listen", "127.0.0.1:0", "--port-file",
                                       str(wdir / "port")))
        witness_url = f"http://127.0.0.1:{wait_port_file(procs, wdir / 'port')}"
        say("witness", f"{WITNESS} (run by the procuratorate) at {witness_url}, key {witness_vkey[:40]}…")
        vdir = logdir / "verifier"
        procs.start("verifier", hub_cmd(cfg, bootstrap, "verifier", "run", "--partition", "0", "--dir",
                                        str(vdir / "tiles"), "--listen", "127.0.0.1:0", "--port-file",
                                        str(logdir / "verifier.port"), "--witness", witness_url,
                                        "--witness-key", witness_vkey))
        verifier_url = f"http://127.0.0.1:{wait_port_file(procs, logdir / 'verifier.port')}"
        say("verifier", f"serving tiles, proofs and lookups at {verifier_url}")
        deadline = time.monotonic() + 60
        note = b""
        while time.monotonic() < deadline:
            procs.check()
            try:
                health = json.loads(_http(f"{verifier_url}/healthz"))
                note = _http(f"{verifier_url}/checkpoint")
            except OSError:
                time.sleep(0.2)
                continue
            if health.get("witness_quorum", {}).get("met") and "— " + WITNESS in note.decode():
                break
            time.sleep(0.2)
        else:
            raise HubError("the witness did not cosign the checkpoint within 60 s")
        say("verifier", "checkpoint published with the witness's cosignature (C2SP tlog-cosignature/v1):")
        for line in note.decode().splitlines():
            say("verifier", f"  {line}")
        receipt = logdir / "freeze-order.tlog-proof"
        export = subprocess.run(hub_cmd(cfg, bootstrap, "proof", "export", order_id, "--out", str(receipt),
                                        "--verifier", verifier_url), capture_output=True, text=True, check=False)
        if export.returncode != 0:
            raise HubError(f"proof export failed: {export.stderr.strip()}")
    finally:
        procs.stop_all()
    policy = logdir / "trust.policy"
    made = subprocess.run(hub_cmd(cfg, bootstrap, "trust", "policy", "--out", str(policy), "--partition", "0",
                                  "--witness", f"{WITNESS}={witness_vkey}", "--quorum", "all"),
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise HubError(f"hub trust policy failed: {made.stderr.strip()}")
    click.echo("")
    say("party", f"trust policy (C2SP tlog-policy) written to {policy}:")
    for line in policy.read_text(encoding="utf-8").splitlines():
        say("party", f"  {line}")
    say("party", f"offline receipt for the freeze order written to {receipt}; verifying it with no network:")
    check = subprocess.run([sys.executable, "-m", "hub.cli", "--consortium", str(cfg.consortium_dir), "proof",
                            "verify", str(receipt), "--policy", str(policy)], capture_output=True, text=True,
                           check=False, env={k: v for k, v in os.environ.items() if k != "HUB_KAFKA_BOOTSTRAP"})
    for line in (check.stdout + check.stderr).strip().splitlines():
        say("party", f"  {line}")
    return check.returncode == 0, policy, vdir / "tiles"


def _story(cfg: HubConfig, ports: dict[str, int], procs: Processes,
           creds: dict[str, grpc.ChannelCredentials]) -> tuple[int, str]:
    now = datetime.now(CST).replace(microsecond=0)
    case_no = f"（{now.year}）京0105执{now.strftime('%H%M%S')}号"
    feedback_seen: queue.Queue[pb.Message] = queue.Queue()
    errors: list[BaseException] = []

    with channel(ports[COURT], creds[COURT]) as court, channel(ports[BANK], creds[BANK]) as bank:
        stop = threading.Event()

        streams = {"bank": bank.Subscribe(pb.SubscribeRequest()), "court": court.Subscribe(pb.SubscribeRequest())}

        def finish() -> None:
            stop.set()
            for st in streams.values():
                st.cancel()

        def bank_system() -> None:
            try:
                for d in streams["bank"]:
                    if stop.is_set():
                        return
                    if d.WhichOneof("item") == "message" and d.message.type == FREEZE_ORDER:
                        m = d.message
                        order = json.loads(m.payload_json)
                        say("bank system", f"received {m.type.rsplit('.', 1)[1]} {m.message_id} from {m.sender}: "
                                           f"{order['case_number']}, freeze ¥{order['amount']} in account "
                                           f"{order['account_number']} (ledger index {m.ledger_index})")
                        fb = {
                            "case_number": order["case_number"], "account_number": order["account_number"],
                            "status": "FROZEN", "frozen_amount": order["amount"], "currency": "CNY",
                            "executed_at": datetime.now(CST).isoformat(),
                            "bank_reference": f"ICBC-DJ-{m.ledger_index:08d}", "note": "已按通知书冻结",
                        }
                        r = bank.Publish(pb.PublishRequest(type=FREEZE_FEEDBACK, recipients=[m.sender],
                                                           correlation_id=m.message_id,
                                                           payload_json=json.dumps(fb, ensure_ascii=False),
                                                           wait_for_receipt=True), timeout=30)
                        say("bank system", f"answered with FreezeFeedback {r.message_id} (FROZEN ¥{fb['frozen_amount']}): "
                                           f"ledger index {r.receipt.ledger_index}, leaf {r.receipt.leaf_hash[:16]}…")
                    bank.Ack(pb.AckRequest(cursor=d.cursor))
            except (grpc.RpcError, ValueError) as exc:
                if not stop.is_set():
                    errors.append(exc)

        def court_system() -> None:
            try:
                for d in streams["court"]:
                    if d.WhichOneof("item") == "message" and d.message.type == FREEZE_FEEDBACK:
                        feedback_seen.put(d.message)
                    court.Ack(pb.AckRequest(cursor=d.cursor))
            except (grpc.RpcError, ValueError) as exc:
                if not stop.is_set():
                    errors.append(exc)

        threads = [threading.Thread(target=bank_system, daemon=True),
                   threading.Thread(target=court_system, daemon=True)]
        for t in threads:
            t.start()

        order = freeze_order(case_no, now)
        say("court system", f"{COURT} orders {BANK} to freeze ¥{order['amount']} of {order['subject']['name']}"
                            f" ({case_no})")
        r = court.Publish(pb.PublishRequest(type=FREEZE_ORDER, recipients=[BANK],
                                            payload_json=json.dumps(order, ensure_ascii=False),
                                            wait_for_receipt=True), timeout=30)
        if r.receipt.status != pb.Receipt.ACCEPTED:
            say("court system", f"REJECTED: {r.receipt.reason} {r.receipt.detail}")
            finish()
            return 1, r.message_id
        say("court system", f"FreezeOrder {r.message_id} signed by the court's connector and notarised: "
                            f"ledger index {r.receipt.ledger_index}, leaf {r.receipt.leaf_hash[:16]}…, "
                            f"at {r.receipt.notarised_at}")
        order_id = r.message_id
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            procs.check()
            if errors:
                raise HubError(f"an agency system's stream failed: {errors[0]}")
            try:
                fb = feedback_seen.get(timeout=0.5)
            except queue.Empty:
                continue
            if fb.correlation_id != order_id:
                continue  # feedback to an order of an earlier run
            payload = json.loads(fb.payload_json)
            say("court system", f"received FreezeFeedback {fb.message_id} from {fb.sender} for order {order_id}: "
                                f"{payload['status']} ¥{payload['frozen_amount']} ({payload['bank_reference']}), "
                                f"ledger index {fb.ledger_index}")
            finish()
            for t in threads:
                t.join(timeout=5)
            return 0, order_id
        finish()
        raise HubError("the court received no feedback within 60 s")

