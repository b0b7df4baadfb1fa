"""Property registries: answer courts' property inquiries and register seals on real
property, answering each seal order with feedback."""

from hub.membership import Role

ROLE = Role.PROPERTY_REGISTRY
PUBLISHES = (
    "cn.judicial.hub.enforcement.PropertyInquiryResult",
    "cn.judicial.hub.enforcement.SealFeedback",
    "cn.judicial.hub.document_service.DocumentServiceReceipt",
    "cn.judicial.hub.evidence.EvidenceDeposited",
)
RECEIVES = (
    "cn.judicial.hub.enforcement.PropertyInquiryRequest",
    "cn.judicial.hub.enforcement.SealOrder",
    "cn.judicial.hub.document_service.DocumentServed",
)
DEV_MEMBERS = (("property-registry-bj", "北京市不动产登记事务中心"),)
