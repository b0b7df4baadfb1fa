"""gRPC servers: the partner agencies' connectors (API in proto/hub/v1)."""
