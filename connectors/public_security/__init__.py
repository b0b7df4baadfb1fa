"""Public security: transfers cases to procuratorates for review, and its detention houses'
commutation and parole proposals to courts; deposits evidence."""

from hub.membership import Role

ROLE = Role.PUBLIC_SECURITY
PUBLISHES = (
    "cn.judicial.hub.case_transfer.CaseTransfer",
    "cn.judicial.hub.case_transfer.CaseTransferReceipt",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
)
RECEIVES = (
    "cn.judicial.hub.lawyers.LawyerCredentialIssued",
    "cn.judicial.hub.lawyers.LawyerCredentialSuspended",
    "cn.judicial.hub.lawyers.LawyerCredentialReinstated",
    "cn.judicial.hub.lawyers.LawyerCredentialRevoked",
    "cn.judicial.hub.case_transfer.CaseTransfer",
    "cn.judicial.hub.case_transfer.CaseTransferReceipt",
    "cn.judicial.hub.document_service.DocumentServed",
    "cn.judicial.hub.evidence.EvidenceDeposited",
)
DEV_MEMBERS = (("public-security-bj-chaoyang", "北京市公安局朝阳分局"),)
