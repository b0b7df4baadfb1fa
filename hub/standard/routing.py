"""The standard policy: which role may send which message type to which roles.

Part of the standard (docs/standard.md): a genesis membership starts from these rules.
A rule with ``answers`` is feedback on (or a receipt for) other types, one or several: it must
carry the message id of what it answers as its correlation id, and it goes back the way that came.
Every order an agency must act on has its answer, so the auditor can close each loop.
"""

from __future__ import annotations

from hub.consortium.membership import PolicyRule, Role

ENFORCEMENT = "cn.judicial.hub.enforcement"
CREDIT = "cn.judicial.hub.credit"
LAWYERS = "cn.judicial.hub.lawyers"
CASE_TRANSFER = "cn.judicial.hub.case_transfer"
DOCUMENT_SERVICE = "cn.judicial.hub.document_service"
EVIDENCE = "cn.judicial.hub.evidence"
MEDIATION = "cn.judicial.hub.mediation"

_COURT = frozenset({Role.COURT})
_BANK = frozenset({Role.BANK})
_REGISTRY = frozenset({Role.PROPERTY_REGISTRY})
_CREDIT_PLATFORM = frozenset({Role.CREDIT_PLATFORM})
_JUSTICE_BUREAU = frozenset({Role.JUSTICE_BUREAU})
#: the organs of criminal justice, between which cases move
_CRIMINAL_JUSTICE = frozenset({Role.COURT, Role.PROCURATORATE, Role.PUBLIC_SECURITY})
#: every partner agency (not the hub's own service identities, not the auditors: they read every
#: payload and send none)
_AGENCIES = frozenset(Role) - {Role.HUB_SERVICE, Role.AUDITOR}

#: the courts' credit decisions, each answered by the credit platform's CreditActionFeedback
CREDIT_DECISIONS = tuple(f"{CREDIT}.{name}" for name in (
    "DefaulterListing", "DefaulterDelisting", "ConsumptionRestrictionImposed", "ConsumptionRestrictionLifted"))


def _types(*names: str) -> frozenset[str]:
    return frozenset(names)


def standard_policy() -> list[PolicyRule]:
    return [
        # only courts issue freeze orders, to banks
        PolicyRule(f"{ENFORCEMENT}.FreezeOrder", frozenset({Role.COURT}), frozenset({Role.BANK})),
        # banks answer them, to courts, naming the order by correlation id
        PolicyRule(f"{ENFORCEMENT}.FreezeFeedback", frozenset({Role.BANK}), frozenset({Role.COURT}),
                   answers=_types(f"{ENFORCEMENT}.FreezeOrder")),
        # enforcement: courts ask and order; the bank or registry addressed answers
        PolicyRule(f"{ENFORCEMENT}.PropertyInquiryRequest", _COURT, _BANK | _REGISTRY),
        PolicyRule(f"{ENFORCEMENT}.PropertyInquiryResult", _BANK | _REGISTRY, _COURT,
                   answers=_types(f"{ENFORCEMENT}.PropertyInquiryRequest")),
        PolicyRule(f"{ENFORCEMENT}.SealOrder", _COURT, _REGISTRY),
        PolicyRule(f"{ENFORCEMENT}.SealFeedback", _REGISTRY, _COURT, answers=_types(f"{ENFORCEMENT}.SealOrder")),
        PolicyRule(f"{ENFORCEMENT}.UnfreezeOrder", _COURT, _BANK),
        PolicyRule(f"{ENFORCEMENT}.UnfreezeFeedback", _BANK, _COURT, answers=_types(f"{ENFORCEMENT}.UnfreezeOrder")),
        PolicyRule(f"{ENFORCEMENT}.DeductionOrder", _COURT, _BANK),
        PolicyRule(f"{ENFORCEMENT}.DeductionFeedback", _BANK, _COURT, answers=_types(f"{ENFORCEMENT}.DeductionOrder")),
        # the court instructs the bank holding its case-funds account; the bank confirms the
        # payment (or says why it was not made)
        PolicyRule(f"{ENFORCEMENT}.CaseFundsDistribution", _COURT, _BANK),
        PolicyRule(f"{ENFORCEMENT}.CaseFundsDistributionFeedback", _BANK, _COURT,
                   answers=_types(f"{ENFORCEMENT}.CaseFundsDistribution")),
        # credit: courts decide, the credit platform applies and answers
        *(PolicyRule(decision, _COURT, _CREDIT_PLATFORM) for decision in CREDIT_DECISIONS),
        # answers each of the four decisions above
        PolicyRule(f"{CREDIT}.CreditActionFeedback", _CREDIT_PLATFORM, _COURT,
                   answers=_types(*CREDIT_DECISIONS)),
        # lawyers: only justice bureaus license, to the organs lawyers appear before
        PolicyRule(f"{LAWYERS}.LawyerCredentialIssued", _JUSTICE_BUREAU, _CRIMINAL_JUSTICE),
        PolicyRule(f"{LAWYERS}.LawyerCredentialSuspended", _JUSTICE_BUREAU, _CRIMINAL_JUSTICE),
        PolicyRule(f"{LAWYERS}.LawyerCredentialReinstated", _JUSTICE_BUREAU, _CRIMINAL_JUSTICE),
        PolicyRule(f"{LAWYERS}.LawyerCredentialRevoked", _JUSTICE_BUREAU, _CRIMINAL_JUSTICE),
        # case transfer between public security, procuratorates and courts, and its receipt
        PolicyRule(f"{CASE_TRANSFER}.CaseTransfer", _CRIMINAL_JUSTICE, _CRIMINAL_JUSTICE),
        PolicyRule(f"{CASE_TRANSFER}.CaseTransferReceipt", _CRIMINAL_JUSTICE, _CRIMINAL_JUSTICE,
                   answers=_types(f"{CASE_TRANSFER}.CaseTransfer")),
        # document service: courts serve on any agency (a party, an assisting unit, a court
        # entrusted with service); the addressee acknowledges
        PolicyRule(f"{DOCUMENT_SERVICE}.DocumentServed", _COURT, _AGENCIES),
        PolicyRule(f"{DOCUMENT_SERVICE}.DocumentServiceReceipt", _AGENCIES, _COURT,
                   answers=_types(f"{DOCUMENT_SERVICE}.DocumentServed")),
        # evidence: any agency deposits, for the organs that weigh evidence
        PolicyRule(f"{EVIDENCE}.EvidenceDeposited", _AGENCIES, _CRIMINAL_JUSTICE),
        # mediation: between courts and justice bureaus (people's mediation committees)
        PolicyRule(f"{MEDIATION}.MediationAgreement", _COURT | _JUSTICE_BUREAU, _COURT | _JUSTICE_BUREAU),
        PolicyRule(f"{MEDIATION}.PerformanceReported", _COURT | _JUSTICE_BUREAU, _COURT | _JUSTICE_BUREAU,
                   answers=_types(f"{MEDIATION}.MediationAgreement")),
    ]
