"""The verifier: follows a ledger partition, publishes C2SP tlog-tiles, serves proofs and lookups,
and writes and checks offline receipts (C2SP tlog-proof).

``follow``  Kafka -> verified checkpoints -> tiles (in-memory lookup index, rebuilt at start)
``store``   the tile directory, written atomically
``http``    the HTTP API (and ``Answers``, the logic both APIs share)
``rpc``     the gRPC API (proto/hub/v1/verifier.proto)
``proofs``  tlog-proof receipts (pure)
``commands`` `hub verifier run`, `hub proof export`, `hub proof verify`
"""
