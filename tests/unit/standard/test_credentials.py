"""The credential book: a licence's status at any time, from its credential messages."""

from __future__ import annotations

from hub.standard.credentials import FAMILY, CredentialBook, CredentialStatus, is_credential_type

ISSUED, SUSPENDED, REVOKED = (FAMILY + n for n in ("LawyerCredentialIssued", "LawyerCredentialSuspended",
                                                   "LawyerCredentialRevoked"))


def test_the_status_at_a_time_is_the_last_change_notarised_by_then() -> None:
    book = CredentialBook()
    book.record(REVOKED, {"license_number": "L1", "lawyer_name": "陈静"}, 300, "m3", 3)
    book.record(ISSUED, {"license_number": "L1", "lawyer": {"name": "陈静"}}, 100, "m1", 1)
    book.record(SUSPENDED, {"license_number": "L1", "lawyer_name": "陈静"}, 200, "m2", 2)
    assert book.status_at("L1", 99) is None
    assert [book.status_at("L1", t).status for t in (100, 199, 200, 299, 300, 10**12)] == [  # type: ignore[union-attr]
        CredentialStatus.ACTIVE, CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED, CredentialStatus.SUSPENDED,
        CredentialStatus.REVOKED, CredentialStatus.REVOKED]
    change = book.status_at("L1", 150)
    assert change is not None and (change.lawyer_name, change.message_id, change.ledger_index) == ("陈静", "m1", 1)
    assert book.status_at("L2", 10**12) is None


def test_only_the_four_credential_types_change_a_licence() -> None:
    assert all(is_credential_type(t) for t in (ISSUED, SUSPENDED, REVOKED, FAMILY + "LawyerCredentialReinstated"))
    assert not is_credential_type(FAMILY + "LawyerCredentialLookup")
    assert not is_credential_type("cn.judicial.hub.enforcement.FreezeOrder")
