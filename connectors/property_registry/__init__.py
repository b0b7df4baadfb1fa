"""Property registries: answer courts' property inquiries and register seals on real
property, answering each seal order with feedback."""

from hub.consortium.membership import Role

ROLE = Role.PROPERTY_REGISTRY
DEV_MEMBERS = (("property-registry-bj", "北京市不动产登记事务中心"),)
