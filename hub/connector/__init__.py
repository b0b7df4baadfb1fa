"""An agency's gRPC connector: requests in, envelopes signed and published, its outbox delivered."""
