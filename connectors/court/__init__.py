"""Courts: issue enforcement orders, inquiries and credit decisions, transfer cases, serve
documents, deposit evidence and exchange mediation agreements; receive the answers."""

from hub.consortium.membership import Role

ROLE = Role.COURT
DEV_MEMBERS = (("court-bj-chaoyang", "北京市朝阳区人民法院"),)
