"""Banks: receive the enforcement orders and inquiries addressed to them, answer each with
feedback, and pay out case funds on a court's instruction."""

from hub.consortium.membership import Role

ROLE = Role.BANK
DEV_MEMBERS = (
    ("bank-icbc-bj", "中国工商银行北京分行"),
    ("bank-ccb-bj", "中国建设银行北京分行"),
)
