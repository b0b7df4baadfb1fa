"""Courts: issue enforcement orders, inquiries and credit decisions, transfer cases, serve
documents, deposit evidence and exchange mediation agreements; receive the answers."""

from hub.membership import Role

ROLE = Role.COURT
PUBLISHES = (
    "cn.judicial.hub.enforcement.FreezeOrder",
    "cn.judicial.hub.enforcement.PropertyInquiryRequest",
    "cn.judicial.hub.enforcement.SealOrder",
    "cn.judicial.hub.enforcement.UnfreezeOrder",
    "cn.judicial.hub.enforcement.DeductionOrder",
    "cn.judicial.hub.enforcement.CaseFundsDistribution",
    "cn.judicial.hub.credit.DefaulterListing",
    "cn.judicial.hub.credit.DefaulterDelisting",
    "cn.judicial.hub.credit.ConsumptionRestrictionImposed",
    "cn.judicial.hub.credit.ConsumptionRestrictionLifted",
    "cn.judicial.hub.case_transfer.CaseTransfer",
    "cn.judicial.hub.case_transfer.CaseTransferReceipt",
    "cn.judicial.hub.document_service.DocumentServed",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
    "cn.judicial.hub.mediation.MediationAgreement",
    "cn.judicial.hub.mediation.PerformanceReported",
)
RECEIVES = (
    "cn.judicial.hub.enforcement.FreezeFeedback",
    "cn.judicial.hub.enforcement.PropertyInquiryResult",
    "cn.judicial.hub.enforcement.SealFeedback",
    "cn.judicial.hub.enforcement.UnfreezeFeedback",
    "cn.judicial.hub.enforcement.DeductionFeedback",
    "cn.judicial.hub.credit.CreditActionFeedback",
    "cn.judicial.hub.lawyers.LawyerCredentialIssued",
    "cn.judicial.hub.lawyers.LawyerCredentialSuspended",
    "cn.judicial.hub.lawyers.LawyerCredentialReinstated",
    "cn.judicial.hub.lawyers.LawyerCredentialRevoked",
    "cn.judicial.hub.case_transfer.CaseTransfer",
    "cn.judicial.hub.case_transfer.CaseTransferReceipt",
    "cn.judicial.hub.document_service.DocumentServed",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
    "cn.judicial.hub.mediation.MediationAgreement",
    "cn.judicial.hub.mediation.PerformanceReported",
)
DEV_MEMBERS = (("court-bj-chaoyang", "北京市朝阳区人民法院"),)
