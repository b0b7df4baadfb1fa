"""Public security: transfers cases to procuratorates for review, and its detention houses'
commutation and parole proposals to courts; deposits evidence."""

from hub.consortium.membership import Role

ROLE = Role.PUBLIC_SECURITY
DEV_MEMBERS = (("public-security-bj-chaoyang", "北京市公安局朝阳分局"),)
