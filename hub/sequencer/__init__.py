"""The sequencer: the single writer of a ledger partition (pure core + Kafka runner)."""
