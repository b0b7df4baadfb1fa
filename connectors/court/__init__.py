"""Courts: issue enforcement orders (freeze), receive the banks' feedback."""

from hub.membership import Role

ROLE = Role.COURT
PUBLISHES = ("cn.judicial.hub.enforcement.FreezeOrder",)
RECEIVES = ("cn.judicial.hub.enforcement.FreezeFeedback",)
DEV_MEMBERS = (("court-bj-chaoyang", "北京市朝阳区人民法院"),)
