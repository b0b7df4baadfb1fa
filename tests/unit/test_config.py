"""HubConfig reads the environment it is given (and only it); the services' settings check themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConnectorSettings, HubConfig, SequencerSettings
from hub.errors import ConfigError
from hub.kafka.local import resolve_bootstrap


@pytest.fixture(autouse=True)
def _hostile_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values in os.environ that must never be read when an explicit mapping is given."""
    for name, value in {"HUB_KAFKA_BOOTSTRAP": "process:1", "HUB_NAMESPACE": "process", "HUB_HOME": "/process",
                        "HUB_CONSORTIUM": "/process/c", "HUB_PARTITIONS": "not-a-number",
                        "HUB_REPLICATION": "x", "HUB_MIN_ISR": "y", "HUB_KAFKA_CONFIG": "/process/k",
                        "HUB_PKI": "/process/pki"}.items():
        monkeypatch.setenv(name, value)


def test_an_empty_environment_gives_the_defaults() -> None:
    cfg = HubConfig.from_env({})
    assert cfg.bootstrap is None and cfg.namespace == "hub" and cfg.partitions == 1
    assert cfg.replication == 1 and cfg.min_insync_replicas == 1
    assert cfg.home == Path.home() / ".cache" / "hub"
    assert cfg.consortium_dir == cfg.home / "consortium" and cfg.broker_dir == cfg.home / "broker"
    assert cfg.pki_dir == cfg.home / "pki" and cfg.kafka_config is None


def test_every_variable_is_read() -> None:
    cfg = HubConfig.from_env({"HUB_KAFKA_BOOTSTRAP": "k1:9092,k2:9092", "HUB_NAMESPACE": "court-test",
                              "HUB_HOME": "/srv/hub", "HUB_CONSORTIUM": "/etc/consortium", "HUB_PARTITIONS": "4",
                              "HUB_REPLICATION": "3", "HUB_MIN_ISR": "2", "HUB_KAFKA_CONFIG": "/etc/hub/kafka.properties",
                              "HUB_PKI": "/etc/hub/pki"})
    assert cfg == HubConfig(home=Path("/srv/hub"), bootstrap="k1:9092,k2:9092", namespace="court-test",
                            partitions=4, replication=3, min_insync_replicas=2, consortium=Path("/etc/consortium"),
                            kafka_config=Path("/etc/hub/kafka.properties"), pki=Path("/etc/hub/pki"))
    assert cfg.pki_dir == Path("/etc/hub/pki")
    assert cfg.consortium_dir == Path("/etc/consortium")
    assert cfg.connector_state_dir("bank-x") == Path("/srv/hub/connectors/court-test/bank-x")


def test_flags_take_the_place_of_their_variables() -> None:
    env = {"HUB_KAFKA_BOOTSTRAP": "env:1", "HUB_NAMESPACE": "env", "HUB_HOME": "/env", "HUB_PARTITIONS": "2"}
    cfg = HubConfig.from_env(env, bootstrap="flag:1", namespace="flag", home=Path("/flag"), partitions=3,
                             consortium=Path("/flag/c"))
    assert (cfg.bootstrap, cfg.namespace, cfg.home, cfg.partitions, cfg.consortium_dir) == (
        "flag:1", "flag", Path("/flag"), 3, Path("/flag/c"))
    # an empty variable counts as unset
    assert HubConfig.from_env({"HUB_KAFKA_BOOTSTRAP": "", "HUB_PARTITIONS": ""}).bootstrap is None


@pytest.mark.parametrize(("env", "words"), [
    ({"HUB_PARTITIONS": "many"}, ["HUB_PARTITIONS='many'", "--partitions"]),
    ({"HUB_PARTITIONS": "0"}, ["HUB_PARTITIONS=0", "at least 1"]),
    ({"HUB_MIN_ISR": "x"}, ["HUB_MIN_ISR='x'"]),
    ({"HUB_REPLICATION": "1", "HUB_MIN_ISR": "2"}, ["min.insync.replicas (2)", "replication factor (1)"]),
    ({"HUB_NAMESPACE": "bad name!"}, ["namespace 'bad name!'"]),
])
def test_a_wrong_setting_is_a_config_error_naming_it(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        HubConfig.from_env(env)
    assert caught.value.exit_code == 2
    for word in words:
        assert word in caught.value.diagnostics()


def test_with_no_mapping_the_process_environment_is_read() -> None:
    with pytest.raises(ConfigError, match="HUB_PARTITIONS='not-a-number'"):
        HubConfig.from_env()


def test_with_bootstrap_names_the_broker_explicitly() -> None:
    cfg = HubConfig.from_env({})
    assert cfg.with_bootstrap("here:1").bootstrap == "here:1" and cfg.bootstrap is None
    assert resolve_bootstrap(cfg.with_bootstrap("here:1")) == "here:1"


def test_without_a_broker_resolving_the_bootstrap_says_how_to_get_one(tmp_path: Path) -> None:
    cfg = HubConfig.from_env({"HUB_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="hub kafka up"):
        resolve_bootstrap(cfg)


def test_sequencer_settings_defaults_and_bounds() -> None:
    s = SequencerSettings()
    assert (s.batch_size, s.checkpoint_period, s.checkpoint_entries, s.workers) == (500, 1.0, 10_000, 2)
    assert s.checkpoint_period_us == 1_000_000 and s.prefetch_kib == 4096 and s.fetch_kib == 128
    for bad, flag in [({"batch_size": 0}, "--batch-size"), ({"batch_size": 10_001}, "--batch-size"),
                      ({"checkpoint_period": 0.001}, "--checkpoint-period"),
                      ({"checkpoint_entries": 0}, "--checkpoint-entries"), ({"workers": 65}, "--workers")]:
        with pytest.raises(ConfigError, match=flag):
            SequencerSettings(**bad)  # type: ignore[arg-type]


def test_connector_settings_defaults_and_bounds() -> None:
    s = ConnectorSettings()
    assert s.listen == "127.0.0.1:50051" and s.verifier_urls == () and not s.plaintext
    assert (s.idempotency_keys, s.stream_inflight, s.stream_linger_ms, s.max_batch) == (100_000, 10_000, 20, 1_000)
    with pytest.raises(ConfigError, match="--listen"):
        ConnectorSettings(listen="nowhere")
    with pytest.raises(ConfigError, match="--verifier"):
        ConnectorSettings(verifier_urls=("127.0.0.1:8080",))
