"""The credit platform: applies courts' defaulter listings and consumption restrictions
(and their removal) for joint credit sanctions, answering each with feedback."""

from hub.consortium.membership import Role

ROLE = Role.CREDIT_PLATFORM
DEV_MEMBERS = (("credit-platform-national", "全国信用信息共享平台"),)
