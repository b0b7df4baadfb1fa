"""The local broker's command line: heap and collector from Kafka's own variables, a GC log."""

from pathlib import Path

from hub.kafka.local import HEAP, JVM_OPTS, broker_command

DIR = Path("/state/broker")


def command(env: dict[str, str]) -> list[str]:
    return broker_command("java", Path("/jars"), DIR, DIR / "server.properties", env)


def test_defaults_when_the_variables_are_unset() -> None:
    cmd = command({})
    assert cmd[0] == "java"
    assert cmd[1:1 + len(HEAP.split()) + len(JVM_OPTS.split())] == HEAP.split() + JVM_OPTS.split()
    assert cmd[-3:] == ["/jars/*", "kafka.Kafka", str(DIR / "server.properties")]


def test_kafka_heap_and_performance_opts_replace_the_defaults() -> None:
    cmd = command({"KAFKA_HEAP_OPTS": "-Xms2g  -Xmx2g", "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseZGC"})
    assert cmd[1:4] == ["-Xms2g", "-Xmx2g", "-XX:+UseZGC"]
    assert not set(HEAP.split() + JVM_OPTS.split()) & set(cmd)


def test_collections_are_logged_beside_the_broker_log_with_the_path_quoted() -> None:
    # -Xlog separates its fields with ':', so the file name is quoted
    [xlog] = [a for a in command({}) if a.startswith("-Xlog:")]
    assert xlog.startswith(f'-Xlog:gc:file="{DIR / "gc.log"}":')
