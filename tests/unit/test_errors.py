"""The hub's errors say who must act: exit codes, diagnostics, and the gRPC status a server answers."""

from __future__ import annotations

import grpc
import pytest

from hub import errors
from hub.errors import (
    EXIT_UNAVAILABLE,
    BrokerUnavailableError,
    ConfigError,
    DecodeError,
    FencedError,
    HubError,
    IntegrityError,
    KafkaOperationError,
    QueueFullError,
    TransactionAbortedError,
    UnavailableError,
    VerificationError,
    VerifierUnavailableError,
    WitnessUnavailableError,
)
from hub.rpc.server import status_for


def test_every_error_of_the_hub_has_one_root_and_a_name_ending_in_error():
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert HubError in classes
    for cls in classes:
        assert issubclass(cls, HubError), cls
        assert cls.__name__.endswith("Error"), cls
        assert cls.__doc__, cls


@pytest.mark.parametrize("cls", [BrokerUnavailableError, VerifierUnavailableError, WitnessUnavailableError,
                                 QueueFullError])
def test_what_is_unreachable_means_retry_later_with_its_own_exit_code(cls: type[UnavailableError]):
    assert issubclass(cls, UnavailableError)
    assert cls("x").exit_code == EXIT_UNAVAILABLE == 75


def test_exit_codes_split_by_who_must_act():
    assert IntegrityError("x").exit_code == VerificationError("x").exit_code == 1
    assert ConfigError("x").exit_code == DecodeError("x").exit_code == KafkaOperationError("x").exit_code == 2
    assert not issubclass(KafkaOperationError, UnavailableError)
    assert issubclass(FencedError, KafkaOperationError) and issubclass(TransactionAbortedError, KafkaOperationError)


def test_diagnostics_is_one_line_for_a_person():
    assert HubError().diagnostics() == "HubError"
    assert ConfigError("no such file").diagnostics() == "no such file"
    err = VerificationError("root mismatch", expected="aa", calculated="bb")
    assert err.diagnostics() == "root mismatch (expected aa, calculated bb)"


@pytest.mark.parametrize(("exc", "code"), [
    (QueueFullError("full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (BrokerUnavailableError("down"), grpc.StatusCode.UNAVAILABLE),
    (VerifierUnavailableError("down"), grpc.StatusCode.UNAVAILABLE),
    (KafkaOperationError("refused"), grpc.StatusCode.UNAVAILABLE),
    (DecodeError("bad bytes"), grpc.StatusCode.INVALID_ARGUMENT),
    (VerificationError("bad signature"), grpc.StatusCode.DATA_LOSS),
    (ConfigError("no verifier"), grpc.StatusCode.FAILED_PRECONDITION),
    (HubError("other"), grpc.StatusCode.INTERNAL),
])
def test_a_server_answers_each_error_with_the_status_that_says_who_must_act(exc: HubError, code: grpc.StatusCode):
    assert status_for(exc) == code
