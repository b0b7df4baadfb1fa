"""Everything that touches Apache Kafka: topics, client settings, the local broker."""
