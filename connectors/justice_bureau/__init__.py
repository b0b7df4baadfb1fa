"""Justice bureaus: issue, suspend, reinstate and revoke lawyers' credentials, and exchange
mediation agreements and performance reports with courts."""

from hub.membership import Role

ROLE = Role.JUSTICE_BUREAU
PUBLISHES = (
    "cn.judicial.hub.lawyers.LawyerCredentialIssued",
    "cn.judicial.hub.lawyers.LawyerCredentialSuspended",
    "cn.judicial.hub.lawyers.LawyerCredentialReinstated",
    "cn.judicial.hub.lawyers.LawyerCredentialRevoked",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
    "cn.judicial.hub.mediation.MediationAgreement",
    "cn.judicial.hub.mediation.PerformanceReported",
)
RECEIVES = (
    "cn.judicial.hub.document_service.DocumentServed",
    "cn.judicial.hub.mediation.MediationAgreement",
    "cn.judicial.hub.mediation.PerformanceReported",
)
DEV_MEMBERS = (
    ("justice-bureau-bj", "北京市司法局"),
    ("justice-bureau-bj-chaoyang", "北京市朝阳区司法局"),
)
