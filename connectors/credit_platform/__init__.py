"""The credit platform: applies courts' defaulter listings and consumption restrictions
(and their removal) for joint credit sanctions, answering each with feedback."""

from hub.membership import Role

ROLE = Role.CREDIT_PLATFORM
PUBLISHES = (
    "cn.judicial.hub.credit.CreditActionFeedback",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
)
RECEIVES = (
    "cn.judicial.hub.credit.DefaulterListing",
    "cn.judicial.hub.credit.DefaulterDelisting",
    "cn.judicial.hub.credit.ConsumptionRestrictionImposed",
    "cn.judicial.hub.credit.ConsumptionRestrictionLifted",
    "cn.judicial.hub.document_service.DocumentServed",
)
DEV_MEMBERS = (("credit-platform-national", "全国信用信息共享平台"),)
