"""Banks: receive the enforcement orders and inquiries addressed to them, answer each with
feedback, and pay out case funds on a court's instruction."""

from hub.membership import Role

ROLE = Role.BANK
PUBLISHES = (
    "cn.judicial.hub.enforcement.FreezeFeedback",
    "cn.judicial.hub.enforcement.PropertyInquiryResult",
    "cn.judicial.hub.enforcement.UnfreezeFeedback",
    "cn.judicial.hub.enforcement.DeductionFeedback",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
)
RECEIVES = (
    "cn.judicial.hub.enforcement.FreezeOrder",
    "cn.judicial.hub.enforcement.PropertyInquiryRequest",
    "cn.judicial.hub.enforcement.UnfreezeOrder",
    "cn.judicial.hub.enforcement.DeductionOrder",
    "cn.judicial.hub.enforcement.CaseFundsDistribution",
    "cn.judicial.hub.document_service.DocumentServed",
)
DEV_MEMBERS = (
    ("bank-icbc-bj", "中国工商银行北京分行"),
    ("bank-ccb-bj", "中国建设银行北京分行"),
)
