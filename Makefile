# Every target does its own set-up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HUB    := $(VENV)/bin/hub
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/hub/v1/*.proto)
GEN    := hub/v1/.generated

.PHONY: install proto kafka browser kcat demo test test-unit test-integration lint chaos bench clean

install: $(STAMP) $(GEN) kafka

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	mkdir -p hub/v1  # pyproject.toml lists hub.v1: its stubs are generated next (proto)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# gRPC stubs are generated from proto/ (never committed): `make proto` regenerates them.
proto $(GEN): $(STAMP) $(PROTOS)
	rm -rf hub/v1
	mkdir -p hub/v1
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch hub/v1/__init__.py $(GEN)

# Fetch the pinned Apache Kafka jars from Maven Central into ~/.cache/hub (once).
kafka: $(STAMP)
	$(HUB) kafka fetch

# Debian's Chromium for the verification page's browser test (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own). Needs root, as on the CI machine; once installed, a no-op.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Debian's kcat (librdkafka's command-line client) for tests/integration/test_kafka_kcat.py: what an
# agency's engineer runs against its own outbox with `hub kafka client-config`'s properties. Needs
# root, as for the browser; once installed, a no-op.
kcat:
	@command -v kcat >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null)

demo: install
	$(HUB) demo

test: install lint browser kcat
	$(PY) -m pytest -rs tests

# Tools built from the Go module proxy into the project's own .tools/ (git-ignored), pinned: bumping a
# version installs it beside the old one. Only Go is needed on a fresh machine.
TOOLS       := .tools
BUF_VERSION := v1.75.0
BUF         := $(TOOLS)/buf-$(BUF_VERSION)/buf
# The API's last release, what `buf breaking` compares proto/ against (a buf image, committed).
API_BASELINE := proto/release/hub-v1.binpb

.PHONY: buf api-baseline

buf: $(BUF)

$(BUF):
	@command -v go >/dev/null || (echo "make: Go is needed to install buf (https://go.dev/dl)" >&2; exit 2)
	GOBIN=$(abspath $(dir $(BUF))) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

# At a release of the API: the current proto/ becomes the baseline `buf breaking` guards (commit it).
api-baseline: $(BUF)
	$(BUF) build proto --exclude-source-info -o $(API_BASELINE)

# buf: the gRPC API's style (proto/buf.yaml) and no breaking change against the last release's
# API ($(API_BASELINE)); mypy strict on hub/ and bench/, ruff on the code and the tests (generated stubs excluded);
# the house's plan (.importlinter: no import cycles, lazy imports counted; confluent_kafka only under
# hub/kafka/, click only under hub/cli/, pure packages free of I/O); no module over 500 lines (pylint)
lint: install $(BUF)
	$(BUF) lint proto
	$(BUF) breaking proto --against $(API_BASELINE)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy bench
	$(VENV)/bin/ruff check hub connectors bench tests
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pylint --disable=all --enable=too-many-lines --max-module-lines=500 --ignore=v1 --score=n \
		hub connectors

test-unit: install
	$(PY) -m pytest -rs tests/unit

test-integration: install browser kcat
	$(PY) -m pytest -rs tests/integration

# The full crash test: 20 SIGKILLs of the sequencer during a 20,000-message load; Kafka faltering under
# load for longer (the broker killed, frozen for 20 s, down for 2 minutes) and the recovery figures.
chaos: install
	HUB_CHAOS_KILLS=20 HUB_CHAOS_MESSAGES=20000 $(PY) -m pytest -rs -v tests/integration/test_crash.py
	HUB_FAULT_KILL_PAUSE_S=20 HUB_FAULT_STOP_S=20 HUB_FAULT_DOWN_S=120 $(PY) -m pytest -rs -v -s \
		tests/integration/test_kafka_faults.py
	$(PY) bench/recovery.py
	HUB_FUZZ_EXAMPLES=3000 $(PY) -m pytest -rs -v -s tests/integration/test_fuzz_connector.py \
		tests/integration/test_fuzz_servers.py

# Speed and memory, as ratios against baselines measured in the same run (not part of `make test`).
bench: install
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) hub/v1 build *.egg-info .pytest_cache
