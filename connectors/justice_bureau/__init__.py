"""Justice bureaus: issue, suspend, reinstate and revoke lawyers' credentials, and exchange
mediation agreements and performance reports with courts."""

from hub.consortium.membership import Role

ROLE = Role.JUSTICE_BUREAU
DEV_MEMBERS = (
    ("justice-bureau-bj", "北京市司法局"),
    ("justice-bureau-bj-chaoyang", "北京市朝阳区司法局"),
)
