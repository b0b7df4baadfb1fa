"""Banks: receive freeze orders addressed to them, answer each with feedback."""

from hub.membership import Role

ROLE = Role.BANK
PUBLISHES = ("cn.judicial.hub.enforcement.FreezeFeedback",)
RECEIVES = ("cn.judicial.hub.enforcement.FreezeOrder",)
DEV_MEMBERS = (
    ("bank-icbc-bj", "中国工商银行北京分行"),
    ("bank-ccb-bj", "中国建设银行北京分行"),
)
