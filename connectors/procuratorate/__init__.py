"""Procuratorates: transfer cases for trial to courts and receive cases for review from
public security, acknowledging each transfer with a receipt."""

from hub.membership import Role

ROLE = Role.PROCURATORATE
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
DEV_MEMBERS = (
    ("procuratorate-bj-chaoyang", "北京市朝阳区人民检察院"),
    ("procuratorate-bj-3", "北京市人民检察院第三分院"),
)
