"""Bad actors on the secure broker (issue 20, item 5): a bank's principal tries what its ACLs do not
allow (reading another's outbox, the ledger, the rejections, the inbound topic; writing what only the
sequencer writes; another agency's consumer group; the sequencer's transactional id; administering the
cluster), clients without a valid certificate try to connect, and a member removed by governance loses
its access at `hub kafka acls apply` while the audit still verifies what it published.

The bad actor is a plain confluent-kafka client with the bank's own certificate (what kcat with
`hub kafka client-config --member` properties would be); the sequencer and connectors are real
`hub` processes. Every refusal is checked beside a positive control with the same client settings,
so a refusal is the authorizer's, not a connection failure.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.connector.followers import private_group
from hub.consortium.files import load_memberships, load_signing_key
from hub.consortium.governance import (
    encode_update,
    remove_member_op,
    sign_update,
    update_document,
    with_approval,
)
from hub.consortium.pki import DevCA, issue_client, load_private_key, read_pem, verify_issued_by
from hub.errors import KafkaAccessDeniedError, VerificationError
from hub.kafka import security
from hub.kafka.acl_policy import connector_group, sequencer_prefix
from hub.kafka.clients import translate
from hub.kafka.membership_log import append_update, read_updates
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.sequencer.runner import transactional_id
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import COURT, FEEDBACK, ORDER, ORDER_JSON, feedback_json

pytestmark = pytest.mark.integration

#: bank A, the bad actor, and bank B, whose data it goes after (and who is removed at the end)
A, B = "bank-icbc-bj", "bank-ccb-bj"

DENIED_TOPIC = KafkaError.TOPIC_AUTHORIZATION_FAILED
DENIED_GROUP = KafkaError.GROUP_AUTHORIZATION_FAILED


def as_(hub: Hub, principal: str) -> dict[str, Any]:
    """Raw librdkafka settings of ``principal``'s certificate from the session's consortium PKI."""
    assert hub.pki is not None
    return {"bootstrap.servers": hub.bootstrap, **security.mtls(hub.pki, principal).settings}


def try_read(hub: Hub, principal: str, topic: str, *, group: str | None = None, want: int = 1,
             timeout: float = 20.0) -> tuple[list[bytes], list[KafkaError]]:
    """Subscribe to ``topic`` as ``principal`` (by default in its own connector group) from the start:
    (the records received, the errors the consumer reported), once ``want`` records or an error came."""
    errors: list[KafkaError] = []
    c = Consumer({**as_(hub, principal), "group.id": group or connector_group(hub.namespace, principal),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "error_cb": errors.append})
    got: list[bytes] = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(got) < want and not errors:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
            else:
                got.append(m.value())
    finally:
        c.close()
    return got, errors


def refused(errors: list[KafkaError], *codes: int) -> bool:
    """Whether the errors are all the authorizer's refusals ``codes`` (and a hub client would say so)."""
    return bool(errors) and all(e.code() in codes for e in errors) \
        and all(isinstance(translate(e, "reading"), KafkaAccessDeniedError) for e in errors)


def topic_error(hub: Hub, principal: str, topic: str) -> int | None:
    """The error code of ``topic`` in a metadata answer to ``principal`` (None: it may describe it)."""
    md = AdminClient(as_(hub, principal)).list_topics(topic, timeout=10)
    err = md.topics[topic].error
    return None if err is None else err.code()


def try_write(hub: Hub, principal: str, topic: str, value: bytes) -> KafkaError | None:
    """Produce one record to ``topic`` as ``principal`` (idempotent, acks=all, as hub producers do):
    the delivery report's error, None when the broker acknowledged it."""
    reports: list[KafkaError | None] = []
    p = Producer({**as_(hub, principal), "acks": "all", "enable.idempotence": True, "message.timeout.ms": 20_000})
    p.produce(topic, value, on_delivery=lambda err, _msg: reports.append(err))
    assert p.flush(30) == 0, f"no delivery report for {topic}"
    [err] = reports
    return err


def values(hub: Hub, topic: str) -> list[bytes]:
    """Every committed record of ``topic`` partition 0, read as the operator."""
    return [r.value for r in read_partition(hub.bootstrap, topic, 0)]


def publish_order(court: Any, bank: str) -> pb.PublishResponse:
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[bank], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    return r


@pytest.fixture(scope="module")
def world(hub: Hub) -> dict[str, Any]:
    """A running sequencer and court connector; a freeze order notarised for each bank; and a record
    bank A wrote to inbound itself (as it may), which the sequencer rejected: every topic bank A goes
    after holds records."""
    t = Topics(hub.namespace)
    seq = hub.sequencer(0)
    court = stub(hub.connector(COURT)[1])
    orders = {bank: publish_order(court, bank) for bank in (A, B)}
    junk = b"not an envelope " + uuid.uuid4().bytes
    assert try_write(hub, A, t.inbound, junk) is None
    hub.wait_for(lambda: len(values(hub, t.rejected)) >= 1, "the rejection of bank A's junk", seq)
    for topic in (t.outbox(A), t.outbox(B), t.ledger, t.rejected, t.inbound):
        assert values(hub, topic), f"{topic} is empty: a refused read would prove nothing"
    return {"sequencer": seq, "court": court, "orders": orders}


def test_a_bank_reads_only_its_own_outbox(hub: Hub, world):
    t = Topics(hub.namespace)
    # positive control: the same client settings read the bank's own outbox, the order addressed to it
    got, errors = try_read(hub, A, t.outbox(A))
    assert errors == [] and len(got) == 1
    entry = LedgerEntry.from_bytes(got[0])
    assert str(Envelope.from_bytes(entry.envelope).message_id) == world["orders"][A].message_id
    for topic in (t.outbox(B), t.ledger, t.rejected, t.inbound):
        got, errors = try_read(hub, A, topic)
        assert got == [], f"bank A read {len(got)} record(s) of {topic}"
        assert refused(errors, DENIED_TOPIC), (topic, errors)


def test_a_bank_writes_only_inbound(hub: Hub, world):
    t = Topics(hub.namespace)
    marker = b"bad actor " + uuid.uuid4().bytes
    # positive control: the same producer settings write inbound (the sequencer rejects the junk)
    assert try_write(hub, A, t.inbound, marker) is None
    for topic in (t.ledger, t.outbox(B), t.outbox(A), t.checkpoints, t.rejected):
        err = try_write(hub, A, topic, marker)
        assert err is not None and err.code() == DENIED_TOPIC, (topic, err)
        assert isinstance(translate(err, "writing"), KafkaAccessDeniedError)
        assert marker not in values(hub, topic), f"bank A's record reached {topic}"
    assert marker in values(hub, t.inbound)


def test_a_bank_uses_only_its_own_consumer_groups(hub: Hub, world):
    t = Topics(hub.namespace)
    own = connector_group(hub.namespace, A)
    # positive control: its own connector group and a follower's group of its own read its outbox
    for group in (own, private_group(own, "tools")):
        got, errors = try_read(hub, A, t.outbox(A), group=group)
        assert errors == [] and len(got) == 1, (group, errors)
    # another agency's connector group (whose committed offsets it could move) and the sequencer's
    for group in (connector_group(hub.namespace, B), private_group(connector_group(hub.namespace, B), "tools"),
                  sequencer_prefix(hub.namespace), connector_group(hub.namespace, COURT)):
        got, errors = try_read(hub, A, t.outbox(A), group=group)
        assert got == [], group
        assert refused(errors, DENIED_GROUP), (group, errors)


def test_a_bank_cannot_administer_the_cluster(hub: Hub, world):
    t = Topics(hub.namespace)
    admin = AdminClient(as_(hub, A))
    # positive control: the bank's client reaches the cluster and sees the topics it may describe
    md = admin.list_topics(timeout=10)
    assert t.outbox(A) in md.topics and t.inbound in md.topics
    attempts = {
        "delete the ledger": admin.delete_topics([t.ledger], request_timeout=10)[t.ledger],
        "create an outbox": admin.create_topics([NewTopic(t.outbox("bank-fake"), 1, 1)],
                                                request_timeout=10)[t.outbox("bank-fake")],
        "grant itself the ledger": next(iter(admin.create_acls(
            [AclBinding(ResourceType.TOPIC, t.ledger, ResourcePatternType.LITERAL, f"User:{A}", "*",
                        AclOperation.READ, AclPermissionType.ALLOW)], request_timeout=10).values())),
    }
    codes = {}
    for what, fut in attempts.items():
        with pytest.raises(KafkaException) as exc:
            fut.result()
        codes[what] = exc.value.args[0].code()
    assert codes == {"delete the ledger": DENIED_TOPIC, "create an outbox": DENIED_TOPIC,
                     "grant itself the ledger": KafkaError.CLUSTER_AUTHORIZATION_FAILED}
    topics = AdminClient({"bootstrap.servers": hub.bootstrap, **security.current().settings}).list_topics(timeout=10)
    assert t.ledger in topics.topics and t.outbox("bank-fake") not in topics.topics


def test_a_bank_cannot_fence_the_sequencer_which_keeps_sequencing(hub: Hub, world):
    t = Topics(hub.namespace)
    before = len(values(hub, t.ledger))
    p = Producer({**as_(hub, A), "transactional.id": transactional_id(hub.namespace, 0)})
    with pytest.raises(KafkaException) as exc:
        p.init_transactions(30)  # granted, this would bump the epoch and fence the running sequencer
    assert exc.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert isinstance(translate(exc.value, "fencing"), KafkaAccessDeniedError)
    # the sequencer, a real process, notarises the next order after the attempt
    r = publish_order(world["court"], A)
    entries = [LedgerEntry.from_bytes(v) for v in values(hub, t.ledger)]
    assert len(entries) == before + 1 and entries[-1].index == r.receipt.ledger_index
    assert str(Envelope.from_bytes(entries[-1].envelope).message_id) == r.message_id
    assert world["sequencer"].poll() is None
    assert "fenced" not in hub.log("sequencer-0").lower()


# --- certificates the broker does not accept ---------------------------------------------------------

def expired_certificate(pki: Path, member_id: str) -> tuple[bytes, bytes]:
    """A client certificate of the consortium CA for ``member_id`` that expired yesterday."""
    ca_cert = x509.load_pem_x509_certificate(read_pem(pki / "ca.pem"))
    ca_key = load_private_key(read_pem(pki / "ca-key.pem"))
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, member_id)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now - dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    # the one defect is its age: the consortium CA issued it, and it verified while it was valid
    verify_issued_by(cert, ca_cert, at=now - dt.timedelta(days=2))
    with pytest.raises(VerificationError):
        verify_issued_by(cert, ca_cert)
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def with_certificate(hub: Hub, directory: Path, name: str, pair: tuple[bytes, bytes]) -> dict[str, Any]:
    """Bank A's settings with another certificate and key in place of its own."""
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    cert.write_bytes(pair[0])
    key.write_bytes(pair[1])
    return {**as_(hub, A), "ssl.certificate.location": str(cert), "ssl.key.location": str(key)}


def connect(settings: dict[str, Any]) -> tuple[KafkaError | None, list[KafkaError]]:
    """A metadata request with ``settings``: (its error or None, the errors the client reported)."""
    errors: list[KafkaError] = []
    admin = AdminClient({**settings, "error_cb": errors.append, "reconnect.backoff.ms": 500,
                         "reconnect.backoff.max.ms": 1000, "logger": _quiet})
    try:
        admin.list_topics(timeout=3)
        failure = None
    except KafkaException as exc:
        failure = exc.args[0]
    admin.poll(0.5)  # deliver the error callbacks
    return failure, errors


class _Quiet:
    """A librdkafka logger that drops its lines (a refused handshake is retried, and logged, often)."""

    def log(self, *_args: Any, **_kwargs: Any) -> None:
        pass


_quiet = _Quiet()


def test_clients_without_a_valid_certificate_fail_the_handshake(hub: Hub, tmp_path):
    assert hub.pki is not None
    rogue_ca = DevCA.generate()  # same CN as the bank, signed by a CA the consortium never heard of
    cases = {
        "no certificate": ({"bootstrap.servers": hub.bootstrap, "security.protocol": "ssl",
                            "ssl.ca.location": str(hub.pki / "ca.pem")}, "alert bad certificate"),
        "expired": (with_certificate(hub, tmp_path, "expired", expired_certificate(hub.pki, A)),
                    "alert certificate unknown"),
        "another CA": (with_certificate(hub, tmp_path, "rogue", issue_client(rogue_ca, A, "假冒的工商银行")),
                       "alert certificate unknown"),
    }
    # positive control: the same settings with the bank's own certificate connect
    assert connect(as_(hub, A)) == (None, [])
    for case, (settings, alert) in cases.items():
        failure, errors = connect(settings)
        assert failure is not None and failure.code() == KafkaError._TRANSPORT, (case, failure)
        # TLS 1.3: the client's half of the handshake ends before the broker checks its certificate,
        # so the broker's refusal arrives as a TLS alert on the first read (librdkafka: _TRANSPORT)
        assert errors and {e.code() for e in errors} <= {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN}, \
            (case, errors)
        ssl = [e.str() for e in errors if e.code() == KafkaError._TRANSPORT]
        assert ssl and all("SSL routines" in s and alert in s for s in ssl), (case, ssl)


def test_a_refused_certificate_is_reported_as_access_denied_not_as_a_broker_down(hub: Hub, tmp_path):
    # the broker's refusal reaches librdkafka as _TRANSPORT (see above), which alone would read as an
    # unreachable broker: a member with an expired certificate must not be told to start a broker, with
    # the exit code that says "retry later"
    assert hub.pki is not None
    settings = with_certificate(hub, tmp_path, "expired", expired_certificate(hub.pki, A))
    props = tmp_path / "expired.properties"
    props.write_text("".join(f"{k}={v}\n" for k, v in settings.items() if k != "bootstrap.servers"))
    proc = subprocess.run([sys.executable, "-m", "hub.cli", "kafka", "status"], capture_output=True, text=True,
                          env={**hub.env, "HUB_KAFKA_CONFIG": str(props)}, timeout=60, check=False)
    assert proc.returncode == KafkaAccessDeniedError.exit_code, proc.stderr
    assert "refused" in proc.stderr and "certificate" in proc.stderr, proc.stderr


# --- a member removed by governance ------------------------------------------------------------------

def acls(hub: Hub, command: str) -> subprocess.CompletedProcess[str]:
    return hub.run("kafka", "acls", command)


def remove_member(hub: Hub, member_id: str) -> int:
    """Append a quorum-approved update removing ``member_id`` to the membership log; its version."""
    history = load_memberships(hub.consortium, read_updates(hub.bootstrap, hub.namespace))
    doc = update_document(history[max(history)], [remove_member_op(member_id)], "吊销成员资格")
    for admin in ("admin-1", "admin-2"):
        doc = with_approval(doc, sign_update(doc, admin, load_signing_key(hub.consortium, admin)))
    append_update(hub.bootstrap, hub.namespace, encode_update(doc))
    return max(history) + 1


def test_a_removed_member_loses_its_kafka_access_at_acls_apply_and_its_entries_still_verify(hub: Hub, world):
    t = Topics(hub.namespace)
    # bank B answers the order addressed to it through its own connector, then is removed
    bank_b = stub(hub.connector(B)[1])
    fb = bank_b.Publish(pb.PublishRequest(type=FEEDBACK, recipients=[COURT], correlation_id=world["orders"][B].message_id,
                                          payload_json=json.dumps(feedback_json(ORDER_JSON)), wait_for_receipt=True),
                        timeout=30)
    assert fb.receipt.status == pb.Receipt.ACCEPTED, fb.receipt
    got, errors = try_read(hub, B, t.outbox(B))
    assert errors == [] and len(got) == 1  # B reads its own outbox while a member
    assert topic_error(hub, B, t.outbox(B)) is None
    assert acls(hub, "list").returncode == 0  # the cluster holds exactly the membership's grants

    version = remove_member(hub, B)
    drift = acls(hub, "list")  # the membership changed, the cluster not yet
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert f"User:{B}" in drift.stdout and "(extra: not in the membership)" in drift.stdout

    applied = acls(hub, "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    removed = [line for line in applied.stdout.splitlines() if line.startswith("- ")]
    assert removed and all(line.startswith(f"- User:{B} ") for line in removed), applied.stdout
    assert not [line for line in applied.stdout.splitlines() if line.startswith("+ ")], applied.stdout
    assert f"membership v{version}: 0 added, {len(removed)} removed" in applied.stdout

    # the broker applies the ACL change from its metadata log: a moment after the command returns;
    # then B's read of its own outbox is refused (its group first, or the topic), and so is the topic
    deadline = time.monotonic() + 15
    while True:
        got, errors = try_read(hub, B, t.outbox(B))
        if refused(errors, DENIED_GROUP, DENIED_TOPIC) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert got == [] and refused(errors, DENIED_GROUP, DENIED_TOPIC), errors
    assert topic_error(hub, B, t.outbox(B)) == DENIED_TOPIC
    err = try_write(hub, B, t.inbound, b"after removal")
    assert err is not None and err.code() == DENIED_TOPIC
    # bank A, still a member, keeps its access
    mine = values(hub, t.outbox(A))
    got, errors = try_read(hub, A, t.outbox(A), want=len(mine))
    assert errors == [] and got == mine

    again = acls(hub, "apply")  # idempotent
    assert again.returncode == 0 and "0 added, 0 removed" in again.stdout, again.stdout + again.stderr
    listed = acls(hub, "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"User:{B}" not in listed.stdout

    # a stray grant (bank A may read the ledger) is drift, and apply deletes it
    operator = AdminClient({"bootstrap.servers": hub.bootstrap, **security.current().settings})
    [created] = operator.create_acls([AclBinding(ResourceType.TOPIC, t.ledger, ResourcePatternType.LITERAL, f"User:{A}",
                                                 "*", AclOperation.READ, AclPermissionType.ALLOW)],
                                     request_timeout=10).values()
    created.result()
    stray = acls(hub, "list")
    assert stray.returncode == 1 and f"read   topic            {t.ledger}   (extra" in stray.stdout, stray.stdout
    cleaned = acls(hub, "apply")
    assert cleaned.returncode == 0 and "0 added, 1 removed" in cleaned.stdout, cleaned.stdout
    assert f"- User:{A}" in cleaned.stdout and t.ledger in cleaned.stdout
    assert acls(hub, "list").returncode == 0

    # what B published before its removal still verifies in a full audit
    senders = {Envelope.from_bytes(LedgerEntry.from_bytes(v).envelope).sender for v in values(hub, t.ledger)}
    assert B in senders
    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "AUDIT VERIFIED" in audit.stdout
