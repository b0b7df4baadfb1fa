"""A bank's system as a separate process: subscribes through its connector, stores each freeze
order (one line per message in a file, flushed and fsynced), then acknowledges its cursor.

Usage: python -m tests.integration.subscriber_app PORT STORE_FILE
"""

from __future__ import annotations

import os
import sys

import grpc

from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc


def main() -> None:
    port, store = int(sys.argv[1]), sys.argv[2]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.ConnectorStub(channel)  # type: ignore[no-untyped-call]
    with open(store, "a", encoding="utf-8") as out:
        for d in stub.Subscribe(pb.SubscribeRequest()):
            if d.WhichOneof("item") == "message":
                out.write(f"{d.cursor} {d.message.message_id}\n")
                out.flush()
                os.fsync(out.fileno())
            stub.Ack(pb.AckRequest(cursor=d.cursor))


if __name__ == "__main__":
    main()
