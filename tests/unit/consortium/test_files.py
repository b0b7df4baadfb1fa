import pytest

from hub.consortium.encryption_keys import DecryptionKey
from hub.consortium.files import (
    decryption_key_files,
    encryption_key_path,
    key_path,
    load_decryption_key,
    retired_encryption_key_path,
)
from hub.consortium.identity import SigningKey
from hub.errors import ConfigError


def test_encryption_key_files_sit_beside_the_signing_keys(tmp_path):
    assert encryption_key_path(tmp_path, "bank-icbc-bj") == tmp_path / "keys" / "bank-icbc-bj.x25519.pem"
    assert key_path(tmp_path, "bank-icbc-bj").parent == encryption_key_path(tmp_path, "bank-icbc-bj").parent
    assert retired_encryption_key_path(tmp_path, "bank-icbc-bj", "0123456789abcdef").name == \
        "bank-icbc-bj.x25519.pem.0123456789abcdef"


def test_a_missing_encryption_key_is_a_config_error_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no encryption key for bank-icbc-bj at .*keys/bank-icbc-bj.x25519.pem"):
        load_decryption_key(tmp_path, "bank-icbc-bj")
    key = DecryptionKey.generate()
    key.save(encryption_key_path(tmp_path, "bank-icbc-bj"))
    assert load_decryption_key(tmp_path, "bank-icbc-bj").key_id == key.key_id


def test_decryption_key_files_are_the_current_one_then_those_it_replaced_and_no_one_elses(tmp_path):
    assert decryption_key_files(tmp_path, "bank") == []
    current, old1, old2 = DecryptionKey.generate(), DecryptionKey.generate(), DecryptionKey.generate()
    for k in (old1, old2):
        k.save(retired_encryption_key_path(tmp_path, "bank", k.key_id))
    assert decryption_key_files(tmp_path, "bank") == sorted(
        retired_encryption_key_path(tmp_path, "bank", k.key_id) for k in (old1, old2))
    current.save(encryption_key_path(tmp_path, "bank"))
    # files of other members, whatever their ids, and the signing keys
    SigningKey.generate().save(key_path(tmp_path, "bank"))
    SigningKey.generate().save(tmp_path / "keys" / "bank.pem.old")
    DecryptionKey.generate().save(encryption_key_path(tmp_path, "bank.x25519"))
    DecryptionKey.generate().save(encryption_key_path(tmp_path, "bank.x25519.pem.0123456789abcdef"))
    SigningKey.generate().save(key_path(tmp_path, "bank.x25519.pem.0123456789abcdef"))
    files = decryption_key_files(tmp_path, "bank")
    assert files[0] == encryption_key_path(tmp_path, "bank") and len(files) == 3
    assert {DecryptionKey.load(p).key_id for p in files} == {current.key_id, old1.key_id, old2.key_id}
