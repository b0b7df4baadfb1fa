"""`hub demo`: a freeze order from a court to a bank and the bank's feedback, on real
processes and a real broker, ending with the auditor's verdict.

The agencies' own systems are played here as plain gRPC clients; the sequencer, connectors,
witness and verifier are separate `hub` processes, stopped with SIGTERM. The story is told through
a :class:`Narrator` the caller gives (the CLI prints with click), in the steps :func:`run_demo` names.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc

from hub.config import HubConfig
from hub.consortium.files import load_signing_key
from hub.consortium.membership import Membership
from hub.consortium.pki import DevCA, issue_member
from hub.dev.consortium import DevMember, init_dev, without_encryption_keys
from hub.dev.processes import Processes
from hub.errors import HubError
from hub.kafka import security
from hub.kafka.acls import apply_acls
from hub.kafka.provision import provision
from hub.kafka.topics import ensure_topics, topic_specs
from hub.ledger.log_identity import SEQUENCER_MEMBER, log_verifier, origin
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
WITNESS = "witness.procuratorate-bj-chaoyang/w1"
CST = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Narrator:
    """Where the story is told: ``echo`` prints a line, ``emphasis`` marks who speaks."""

    echo: Callable[[str], None]
    emphasis: Callable[[str], str] = str

    def say(self, who: str, text: str) -> None:
        """One line of the story, spoken by ``who``."""
        self.echo(f"{self.emphasis(f'[{who}]'):<24} {text}")


@dataclass(frozen=True)
class DemoResult:
    """How the story ended: the order accepted or not, the receipt verified or not, the audit's exit code."""

    order_accepted: bool
    receipt_verified: bool = False
    audit_exit_code: int | None = None
    #: the processes' logs, the receipt, the trust policy and the audit reports
    logdir: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 only if the order was notarised, its receipt verified offline and the audit verified."""
        return 1 if not self.order_accepted else self.audit_exit_code or (0 if self.receipt_verified else 1)


@dataclass
class _Stage:
    """What the steps share: the configuration, the broker, the consortium and the running processes."""

    cfg: HubConfig
    bootstrap: str
    membership: Membership
    agencies: list[str]
    logdir: Path
    narrator: Narrator
    ports: dict[str, int] = field(default_factory=dict)

    def hub(self, *args: str) -> list[str]:
        """The argv of a child `hub` process on this stage's broker, namespace and consortium."""
        return [sys.executable, "-m", "hub.cli", "--bootstrap", self.bootstrap, "--namespace", self.cfg.namespace,
                "--home", str(self.cfg.home), "--consortium", str(self.cfg.consortium_dir), "--partitions",
                str(self.cfg.partitions), *args]

    def run(self, what: str, *args: str) -> str:
        """Run a `hub` command to completion; its stdout, or a HubError naming ``what`` failed."""
        proc = subprocess.run(self.hub(*args), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HubError(f"{what} failed: {proc.stderr.strip()}")
        return proc.stdout


@contextmanager
def channel(port: int, credentials: grpc.ChannelCredentials) -> Iterator[pb_grpc.ConnectorStub]:
    with grpc.secure_channel(f"localhost:{port}", credentials) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield pb_grpc.ConnectorStub(ch)


def run_demo(cfg: HubConfig, members: Sequence[DevMember], narrator: Narrator) -> DemoResult:
    """Tell the whole story; ``members`` make up the development consortium if none exists yet."""
    t0 = time.monotonic()
    narrator.echo("== The judicial interoperability hub: a freeze order and its feedback ==")
    stage = _prepare(cfg, members, narrator)
    procs = Processes(stage.logdir)
    order_id = None
    try:
        _start_services(stage, procs)
        creds = {m: client_credentials_from_pki(cfg.pki_dir, m) for m in stage.agencies}
        order_id = _freeze_exchange(stage, procs, creds)
        if order_id is not None and CREDIT in stage.ports and JUSTICE in stage.ports:
            now = datetime.now(CST).replace(microsecond=0)
            with channel(stage.ports[COURT], creds[COURT]) as court:
                with channel(stage.ports[CREDIT], creds[CREDIT]) as credit:
                    _defaulter_listing(narrator, court, credit, now)
                with channel(stage.ports[JUSTICE], creds[JUSTICE]) as justice:
                    _lawyer_licence(narrator, court, justice, now)
        elif order_id is not None:
            narrator.say("hub", f"(this consortium predates {CREDIT} and {JUSTICE}: `hub agency init --force` "
                                "adds them)")
    finally:
        procs.stop_all()  # the sequencer signs a last checkpoint covering every entry as it stops
    if order_id is None:
        return DemoResult(order_accepted=False, logdir=stage.logdir)
    witness_vkey, receipt, tiles = _cosigned_receipt(stage, order_id)
    receipt_ok, policy = _party_verifies(stage, witness_vkey, receipt)
    audit_code = _audit(stage, policy, tiles)
    narrator.echo(f"\n(demo took {time.monotonic() - t0:.1f}s; the broker keeps running: `hub kafka down` stops it)")
    return DemoResult(order_accepted=True, receipt_verified=receipt_ok, audit_exit_code=audit_code,
                      logdir=stage.logdir)


def _prepare(cfg: HubConfig, members: Sequence[DevMember], narrator: Narrator) -> _Stage:
    """A broker (found or started), the development consortium, its topics, TLS certificates and Kafka ACLs."""
    def operator() -> None:
        security.use(security.resolve(cfg.kafka_config, cfg.pki_dir, security.OPERATOR))

    if cfg.bootstrap:
        operator()  # an external cluster: its properties file or the PKI says how to reach it
    broker = provision(cfg.home, cfg.broker_dir, pki_dir=cfg.pki_dir, bootstrap=cfg.bootstrap,
                       port=19092 if not cfg.bootstrap else None)
    operator()  # the local broker's first start has just issued the operator's certificate
    narrator.say("hub", f"Kafka ({broker.kind}) at {broker.bootstrap}")
    membership, created = init_dev(cfg.consortium_dir, members)
    narrator.say("hub", f"{'created' if created else 'using'} consortium {membership.consortium!r} in "
                        f"{cfg.consortium_dir}")
    for m in membership.members.values():
        narrator.say("hub", f"  member {m.id} ({', '.join(sorted(m.roles))}) {m.name}, key {m.keys[0].key_id}")
    ensure_topics(broker.bootstrap, cfg, topic_specs(cfg, list(membership.members)))
    ca = DevCA.load(cfg.pki_dir) if (cfg.pki_dir / "ca.pem").exists() else DevCA.create(cfg.pki_dir)
    agencies = [m for m in (COURT, BANK, CREDIT, JUSTICE) if m in membership.members]
    for member in agencies:
        if not (cfg.pki_dir / member / "server.pem").exists() or not (cfg.pki_dir / member / "client.pem").exists():
            issue_member(ca, cfg.pki_dir, member, membership.members[member].name)
    narrator.say("hub", f"development CA {ca.name} in {cfg.pki_dir}: connectors accept only their agency's client "
                        "certificate (mTLS), and each connector reaches Kafka as its agency with the same certificate")
    changes = apply_acls(broker.bootstrap, cfg.namespace, membership)
    narrator.say("hub", f"Kafka ACLs from membership v{membership.version}: {len(changes.added)} added, "
                        f"{len(changes.removed)} removed, {changes.kept} kept; {BANK} may read "
                        f"{cfg.namespace}.outbox.{BANK} and no other outbox, nor the ledger (`hub kafka acls list`)")
    stage = _Stage(cfg, broker.bootstrap, membership, agencies, Path(tempfile.mkdtemp(prefix="hub-demo-")), narrator)
    _give_encryption_keys(stage)  # a consortium made before envelope v2
    return stage


def _give_encryption_keys(stage: _Stage) -> None:
    """Members of a consortium created before envelope v2 get an encryption key, through the quorum."""
    missing = without_encryption_keys(stage.cfg.consortium_dir, stage.bootstrap, stage.cfg.namespace)
    if missing:
        stage.narrator.say("hub", f"consortium made before envelope v2: {len(missing)} member(s) get an encryption key "
                                  "(`hub agency rotate-key --encryption`, approved by admin-1 and admin-2)")
    for member in missing:
        stage.run(f"an encryption key for {member}", "agency", "rotate-key", "--encryption", "--member", member,
                  "--admin", "admin-1", "--admin", "admin-2", "--reason", "envelope v2: an encryption key")


def _start_services(stage: _Stage, procs: Processes) -> None:
    """The sequencer of partition 0 and a connector (mTLS) per agency of the story."""
    sequencer = procs.start("sequencer", stage.hub("sequencer", "run", "--partition", "0"))
    for member in stage.agencies:
        pf = stage.logdir / f"{member}.port"
        proc = procs.start(member, stage.hub("connector", "run", "--agency", member, "--listen", "127.0.0.1:0",
                                             "--port-file", str(pf)))
        stage.ports[member] = procs.wait_port_file(pf)
        stage.narrator.say("hub", f"connector for {member} serving gRPC with mTLS on 127.0.0.1:{stage.ports[member]} "
                                  f"(pid {proc.pid})")
    stage.narrator.say("hub", f"sequencer for {stage.cfg.namespace}.ledger[0] running (pid {sequencer.pid}); logs in "
                              f"{stage.logdir}")


def case_number(now: datetime) -> str:
    """A new enforcement case number of the court's for each run: the second of the day is the serial
    number (from 1: a case number's serial has no leading zero)."""
    return f"（{now.year}）京0105执{now.hour * 3600 + now.minute * 60 + now.second + 1}号"


def freeze_order(case_no: str, now: datetime) -> dict[str, Any]:
    return {"case_number": case_no, "document_number": case_no + "之一", "court_name": "北京市朝阳区人民法院",
            "judge": "王建国", "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                                          "id_number": "91110105MA01ABCD26"},
            "account_number": "0200001234567890123", "amount": "1286400.50", "currency": "CNY",
            "freeze_from": now.isoformat(), "freeze_until": (now + timedelta(days=365)).isoformat(),
            "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条",
            "response_deadline": (now + timedelta(days=1)).isoformat()}


def _freeze_exchange(stage: _Stage, procs: Processes, creds: dict[str, grpc.ChannelCredentials]) -> str | None:
    """The court orders the bank to freeze an account; the bank's system, reading its stream, freezes
    it and answers; the court's system receives the feedback. The order's message id, None if rejected."""
    say, ports = stage.narrator.say, stage.ports
    now = datetime.now(CST).replace(microsecond=0)
    case_no = case_number(now)
    with channel(ports[COURT], creds[COURT]) as court, channel(ports[BANK], creds[BANK]) as bank:
        stop = threading.Event()
        errors: list[BaseException] = []
        stream = bank.Subscribe(pb.SubscribeRequest())
        bank_system = threading.Thread(target=_bank_system, args=(stage.narrator, bank, stream, stop, errors),
                                       daemon=True)
        bank_system.start()
        try:
            order = freeze_order(case_no, now)
            say("court system", f"{COURT} orders {BANK} to freeze ¥{order['amount']} of {order['subject']['name']}"
                                f" ({case_no})")
            r = _publish(court, FREEZE_ORDER, BANK, order)
            if r.receipt.status != pb.Receipt.ACCEPTED:
                say("court system", f"REJECTED: {r.receipt.reason} {r.receipt.detail}")
                return None
            say("court system", f"FreezeOrder {r.message_id} signed by the court's connector and notarised: "
                                f"ledger index {r.receipt.ledger_index}, leaf {r.receipt.leaf_hash[:16]}…, "
                                f"at {r.receipt.notarised_at}")

            def healthy() -> None:
                procs.check()
                if errors:
                    raise HubError(f"an agency system's stream failed: {errors[0]}")

            fb = _next_message(court, lambda m: m.type == FREEZE_FEEDBACK and m.correlation_id == r.message_id,
                               check=healthy)  # feedback to the orders of earlier runs is acknowledged and passed
            payload = json.loads(fb.payload_json)
            say("court system", f"received FreezeFeedback {fb.message_id} from {fb.sender} for order {r.message_id}: "
                                f"{payload['status']} ¥{payload['frozen_amount']} ({payload['bank_reference']}), "
                                f"ledger index {fb.ledger_index}")
            return str(r.message_id)
        finally:
            stop.set()
            stream.cancel()
            bank_system.join(timeout=5)


def _bank_system(narrator: Narrator, bank: pb_grpc.ConnectorStub, stream: Any, stop: threading.Event,
                 errors: list[BaseException]) -> None:
    """Freeze what each FreezeOrder on the bank's stream asks and answer it with a FreezeFeedback."""
    try:
        for d in stream:
            if stop.is_set():
                return
            if d.WhichOneof("item") == "message" and d.message.type == FREEZE_ORDER:
                m = d.message
                order = json.loads(m.payload_json)
                narrator.say("bank system", f"received {m.type.rsplit('.', 1)[1]} {m.message_id} from {m.sender}: "
                                            f"{order['case_number']}, freeze ¥{order['amount']} in account "
                                            f"{order['account_number']} (ledger index {m.ledger_index})")
                fb = {"case_number": order["case_number"], "account_number": order["account_number"],
                      "status": "FROZEN", "frozen_amount": order["amount"], "currency": "CNY",
                      "executed_at": datetime.now(CST).isoformat(),
                      "bank_reference": f"ICBC-DJ-{m.ledger_index:08d}", "note": "已按通知书冻结"}
                r = _publish(bank, FREEZE_FEEDBACK, m.sender, fb, correlation_id=m.message_id)
                narrator.say("bank system", f"answered with FreezeFeedback {r.message_id} (FROZEN "
                                            f"¥{fb['frozen_amount']}): ledger index {r.receipt.ledger_index}, "
                                            f"leaf {r.receipt.leaf_hash[:16]}…")
            bank.Ack(pb.AckRequest(cursor=d.cursor))
    except (grpc.RpcError, ValueError) as exc:
        if not stop.is_set():
            errors.append(exc)


def _next_message(stub: pb_grpc.ConnectorStub, match: Callable[[pb.Message], bool], timeout: float = 60.0,
                  check: Callable[[], None] | None = None) -> pb.Message:
    """Read the agency's stream, acknowledging as it goes, until a message matches; ``check``
    (raising if something it watches failed) is called ten times a second meanwhile."""
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
    deadline = time.monotonic() + timeout
    try:
        while found.empty():
            if check is not None:
                check()
            if time.monotonic() > deadline:
                raise HubError(f"no matching message arrived within {timeout:.0f} s")
            time.sleep(0.1)
    finally:
        stream.cancel()
    got = found.get()
    if isinstance(got, BaseException):
        raise HubError(f"an agency's stream failed: {got}")
    return got


def _publish(stub: pb_grpc.ConnectorStub, type_: str, recipient: str, payload: dict[str, Any],
             correlation_id: str = "") -> pb.PublishResponse:
    request = pb.PublishRequest(type=type_, recipients=[recipient], correlation_id=correlation_id,
                                payload_json=json.dumps(payload, ensure_ascii=False), wait_for_receipt=True)
    response: pb.PublishResponse = stub.Publish(request, timeout=30)
    return response


def _defaulter_listing(narrator: Narrator, court: pb_grpc.ConnectorStub, credit: pb_grpc.ConnectorStub,
                       now: datetime) -> None:
    """The court lists a judgment defaulter; the credit platform applies it and answers."""
    case_no = case_number(now)
    narrator.echo("")
    subject = {"name": "北京恒远商贸有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE", "id_number": "91110105MA01R2XK33"}
    listing = {
        "case_number": case_no, "document_number": f"{case_no}决定书", "court_name": "北京市朝阳区人民法院",
        "subject": subject, "legal_representative": "赵六", "grounds": ["ABLE_BUT_REFUSES"],
        "obligation": "向王五支付货款人民币352800.00元及逾期付款利息", "outstanding_amount": "352800.00",
        "currency": "CNY", "listed_at": now.isoformat(), "listed_until": (now + timedelta(days=730)).isoformat(),
        "legal_basis": "《中华人民共和国民事诉讼法》第二百六十六条",
    }
    r = _publish(court, f"{CREDIT_NS}.DefaulterListing", CREDIT, listing)
    narrator.say("court system", f"lists {subject['name']} as a judgment defaulter (失信被执行人), {case_no}: "
                                 f"ledger index {r.receipt.ledger_index}")
    got = _next_message(credit, lambda m: m.message_id == r.message_id)
    narrator.say("credit platform", f"received DefaulterListing {got.message_id} from {got.sender}; applying it")
    feedback = {"case_number": case_no, "document_number": f"{case_no}决定书", "action": "LISTED",
                "status": "APPLIED", "applied_at": datetime.now(CST).isoformat(),
                "platform_reference": f"XY-SX-{now.strftime('%Y%m%d%H%M%S')}", "note": ""}
    f = _publish(credit, f"{CREDIT_NS}.CreditActionFeedback", COURT, feedback, correlation_id=r.message_id)
    back = _next_message(court, lambda m: m.correlation_id == r.message_id)
    narrator.say("court system", f"credit platform feedback {back.message_id}: "
                                 f"{json.loads(back.payload_json)['status']} ({feedback['platform_reference']}), "
                                 f"ledger index {f.receipt.ledger_index}")


def _lawyer_licence(narrator: Narrator, court: pb_grpc.ConnectorStub, justice: pb_grpc.ConnectorStub,
                    now: datetime) -> None:
    """The justice bureau licenses a lawyer and then revokes the licence; the court looks it up
    now, and as of just before the revocation."""
    narrator.echo("")
    status = pb.LookupCredentialResponse.Status.Name
    licence = "11" + now.strftime("%y%m%d%H%M%S") + f"{random.randrange(1000):03d}"  # 17 digits, new each run
    issued = {"license_number": licence, "lawyer": {"name": "陈静", "id_type": "RESIDENT_ID",
                                                    "id_number": "110102199004204321"},
              "law_firm": "北京市正衡律师事务所", "law_firm_credit_code": "31110000E00017891P",
              "practice_kind": "FULL_TIME", "decision_number": f"京司律准字〔{now.year}〕第{now.strftime('%H%M')}号",
              "issuing_authority": "北京市司法局", "issued_at": now.isoformat()}
    i = _publish(justice, f"{LAWYERS_NS}.LawyerCredentialIssued", COURT, issued)
    narrator.say("justice bureau", f"licenses lawyer 陈静 ({licence}): ledger index {i.receipt.ledger_index}")
    lookup = _lookup_until(court, licence, pb.LookupCredentialResponse.ACTIVE)
    narrator.say("court system", f"LookupCredential {licence}: {status(lookup.status)} since {lookup.since}")
    revoked = {"license_number": licence, "lawyer_name": "陈静", "decision_number":
               f"京司罚决字〔{now.year}〕第{now.strftime('%H%M')}号", "reason": "REVOKED_AS_PENALTY",
               "revoked_at": datetime.now(CST).isoformat(), "issuing_authority": "北京市司法局"}
    v = _publish(justice, f"{LAWYERS_NS}.LawyerCredentialRevoked", COURT, revoked)
    narrator.say("justice bureau", f"revokes licence {licence}: ledger index {v.receipt.ledger_index}")
    after = _lookup_until(court, licence, pb.LookupCredentialResponse.REVOKED)
    before_at = (datetime.fromisoformat(v.receipt.notarised_at)
                 - timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    before = court.LookupCredential(pb.LookupCredentialRequest(license_number=licence, at=before_at))
    narrator.say("court system", f"LookupCredential {licence} at {before_at}: {status(before.status)}; now: "
                                 f"{status(after.status)} (ledger index {after.ledger_index})")


def _lookup_until(court: pb_grpc.ConnectorStub, licence: str, want: int,
                  timeout: float = 30.0) -> pb.LookupCredentialResponse:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got: pb.LookupCredentialResponse = court.LookupCredential(
                pb.LookupCredentialRequest(license_number=licence), timeout=10)
        except grpc.RpcError as exc:  # UNAVAILABLE: still reading the credential register
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            continue
        if got.status == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def _cosigned_receipt(stage: _Stage, order_id: str) -> tuple[str, Path, Path]:
    """A witness run by the procuratorate cosigns the verifier's checkpoint, and the court's order
    gets its receipt from the verifier: (the witness's vkey, the receipt, the verifier's tiles)."""
    cfg, say = stage.cfg, stage.narrator.say
    stage.narrator.echo("")
    origin_ = origin(stage.membership.consortium, cfg.namespace, 0)
    log_vkey = log_verifier(load_signing_key(cfg.consortium_dir, SEQUENCER_MEMBER).public.raw, origin_).to_vkey()
    wdir, vdir = stage.logdir / "witness", stage.logdir / "verifier"
    wdir.mkdir()
    witness_vkey = stage.run("witness init", "witness", "init", "--name", WITNESS, "--key",
                             str(wdir / "key.pem")).strip().splitlines()[-1]
    receipt = stage.logdir / "freeze-order.tlog-proof"
    procs = Processes(stage.logdir)
    try:
        procs.start("witness", stage.hub("witness", "run", "--name", WITNESS, "--key", str(wdir / "key.pem"),
                                         "--state", str(wdir / "state.json"), "--log", f"{origin_} {log_vkey}",
                                         "--listen", "127.0.0.1:0", "--port-file", str(wdir / "port")))
        witness_url = f"http://127.0.0.1:{procs.wait_port_file(wdir / 'port')}"
        say("witness", f"{WITNESS} (run by the procuratorate) at {witness_url}, key {witness_vkey[:40]}…")
        procs.start("verifier", stage.hub("verifier", "run", "--partition", "0", "--dir", str(vdir / "tiles"),
                                          "--listen", "127.0.0.1:0", "--port-file",
                                          str(stage.logdir / "verifier.port"), "--witness", witness_url,
                                          "--witness-key", witness_vkey))
        verifier_url = f"http://127.0.0.1:{procs.wait_port_file(stage.logdir / 'verifier.port')}"
        say("verifier", f"serving tiles, proofs and lookups at {verifier_url}")
        note = _wait_cosigned(procs, verifier_url)
        say("verifier", "checkpoint published with the witness's cosignature (C2SP tlog-cosignature/v1):")
        for line in note.decode().splitlines():
            say("verifier", f"  {line}")
        stage.run("proof export", "proof", "export", order_id, "--out", str(receipt), "--verifier", verifier_url)
    finally:
        procs.stop_all()
    return witness_vkey, receipt, vdir / "tiles"


def _wait_cosigned(procs: Processes, verifier_url: str, timeout: float = 60.0) -> bytes:
    """The verifier's checkpoint once the witness's cosignature is on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs.check()
        try:
            with urllib.request.urlopen(f"{verifier_url}/healthz", timeout=10) as h, \
                    urllib.request.urlopen(f"{verifier_url}/checkpoint", timeout=10) as c:
                health, note = json.loads(h.read()), bytes(c.read())
        except OSError:
            time.sleep(0.2)
            continue
        if health.get("witness_quorum", {}).get("met") and "— " + WITNESS in note.decode():
            return note
        time.sleep(0.2)
    raise HubError(f"the witness did not cosign the checkpoint within {timeout:.0f} s")


def _party_verifies(stage: _Stage, witness_vkey: str, receipt: Path) -> tuple[bool, Path]:
    """The party writes its trust policy (C2SP tlog-policy: the log's key and the witness, quorum all)
    and verifies the receipt against it with no broker named: (whether it verifies, the policy)."""
    policy = stage.logdir / "trust.policy"
    stage.run("hub trust policy", "trust", "policy", "--out", str(policy), "--partition", "0",
              "--witness", f"{WITNESS}={witness_vkey}", "--quorum", "all")
    stage.narrator.echo("")
    stage.narrator.say("party", f"trust policy (C2SP tlog-policy) written to {policy}:")
    for line in policy.read_text(encoding="utf-8").splitlines():
        stage.narrator.say("party", f"  {line}")
    stage.narrator.say("party", f"offline receipt for the freeze order written to {receipt}; verifying it with no "
                                "network:")
    check = subprocess.run([sys.executable, "-m", "hub.cli", "--consortium", str(stage.cfg.consortium_dir), "proof",
                            "verify", str(receipt), "--policy", str(policy)], capture_output=True, text=True,
                           check=False, env={k: v for k, v in os.environ.items() if k != "HUB_KAFKA_BOOTSTRAP"})
    for line in (check.stdout + check.stderr).strip().splitlines():
        stage.narrator.say("party", f"  {line}")
    return check.returncode == 0, policy


def _audit(stage: _Stage, policy: Path, tiles: Path) -> int:
    """`hub audit` of partition 0 with the witnessed checkpoint against the policy; its exit code."""
    say, logdir = stage.narrator.say, stage.logdir
    stage.narrator.echo("")
    say("auditor", "hub audit: replaying the ledger from index 0, and checking the witnessed checkpoint "
                   f"against the trust policy {policy.name}")
    audit = subprocess.run(stage.hub("audit", "--partition", "0", "--policy", str(policy), "--cosigned-from",
                                     str(tiles), "--report", str(logdir / "audit.json"), "--html",
                                     str(logdir / "audit.html")),
                           capture_output=True, text=True, check=False)
    for line in (audit.stdout + audit.stderr).strip().splitlines():
        say("auditor", line)
    say("auditor", f"reports for the supervisor: {logdir / 'audit.html'} and {logdir / 'audit.json'}")
    return audit.returncode
