#!/usr/bin/env bash
# Builds the Go example from nothing but Go and the project's virtualenv (`make install`):
#   1. the pinned code generators protoc-gen-go and protoc-gen-go-grpc, into .bin/ (once per version);
#   2. Go code from ../../proto/hub/v1/*.proto into gen/hub/v1 (package hubv1), with the protoc that the
#      virtualenv's grpcio-tools ships (python -m grpc_tools.protoc: no separate protoc to install);
#   3. the program, .bin/freeze-loop.
# Usage: examples/go/build.sh   (from anywhere; PYTHON=/path/to/python to use another grpcio-tools)
set -euo pipefail
cd "$(dirname "$0")"

PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf/cmd/protoc-gen-go: as go.mod's protobuf
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0   # google.golang.org/grpc/cmd/protoc-gen-go-grpc
PYTHON=${PYTHON:-../../.venv/bin/python}
BIN=$PWD/.bin

command -v go >/dev/null || { echo "build.sh: error: go is not installed (https://go.dev/dl)" >&2; exit 2; }
"$PYTHON" -c 'import grpc_tools' 2>/dev/null \
  || { echo "build.sh: error: $PYTHON has no grpcio-tools: run 'make install' at the repository root" >&2; exit 2; }

# install <binary> <module path of its package> <version>: unless .bin holds that very version
install() {
  if ! go version -m "$BIN/$1" 2>/dev/null | grep -q "[[:space:]]$3\([[:space:]]\|$\)"; then
    GOBIN=$BIN go install "$2@$3"
  fi
}
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"

# paths=source_relative: hub/v1/connector.proto becomes gen/hub/v1/connector.pb.go, whatever the
# proto's go_package says, so the code lands in this module as judicial.hub/examples/go/gen/hub/v1.
rm -rf gen && mkdir -p gen
"$PYTHON" -m grpc_tools.protoc -I ../../proto \
  --plugin=protoc-gen-go="$BIN/protoc-gen-go" --plugin=protoc-gen-go-grpc="$BIN/protoc-gen-go-grpc" \
  --go_out=gen --go_opt=paths=source_relative \
  --go-grpc_out=gen --go-grpc_opt=paths=source_relative \
  ../../proto/hub/v1/*.proto

go build -o "$BIN/freeze-loop" .
echo "built $BIN/freeze-loop"
