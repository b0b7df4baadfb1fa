"""Procuratorates: transfer cases for trial to courts and receive cases for review from
public security, acknowledging each transfer with a receipt."""

from hub.consortium.membership import Role

ROLE = Role.PROCURATORATE
DEV_MEMBERS = (
    ("procuratorate-bj-chaoyang", "北京市朝阳区人民检察院"),
    ("procuratorate-bj-3", "北京市人民检察院第三分院"),
)
