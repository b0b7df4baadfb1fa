import logging

import pytest

from hub.connector.agency import Agency, load_decryption_keys
from hub.consortium.encryption_keys import DecryptionKey
from hub.errors import ConfigError
from hub.kafka.topics import Topics
from tests.unit.factories import world


def test_the_agency_holds_every_decryption_key_given_the_current_first_each_once(tmp_path):
    keys = [DecryptionKey.generate() for _ in range(2)]
    paths = [tmp_path / f"{n}.pem" for n in range(2)]
    for k, p in zip(keys, paths, strict=True):
        k.save(p)
    loaded = load_decryption_keys("bank-icbc-bj", [paths[0], paths[1], paths[0]])
    assert [k.key_id for k in loaded] == [k.key_id for k in keys]
    w = world()
    agency = Agency("bank-icbc-bj", w.keys["bank-icbc-bj"], w.membership, w.registry, Topics("t"), "127.0.0.1:1",
                    decryption_keys=loaded, encryption_key_file=paths[0])
    assert agency.decryption_keys == loaded and agency.encryption_key_file == paths[0]
    assert Agency("bank-icbc-bj", w.keys["bank-icbc-bj"], w.membership, w.registry, Topics("t"),
                  "127.0.0.1:1").decryption_keys == ()


def test_no_key_file_is_a_warning_not_a_failure(caplog):
    with caplog.at_level(logging.WARNING, logger="hub.connector.agency"):
        assert load_decryption_keys("bank-icbc-bj", []) == ()
    (record,) = caplog.records
    assert "bank-icbc-bj" in record.getMessage() and "cannot open encrypted payloads" in record.getMessage()


def test_a_named_file_that_cannot_be_read_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="missing.pem"):
        load_decryption_keys("bank-icbc-bj", [tmp_path / "missing.pem"])
