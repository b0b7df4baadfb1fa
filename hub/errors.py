"""The hub's errors: one root, subclasses split by who must act.

Every expected failure the hub can meet is a :class:`HubError`. The CLI prints
``diagnostics()`` as one line and exits with the error's ``exit_code``; it never
formats errors itself. Boundaries (Kafka, gRPC, fastavro, cryptography, files)
translate their own exceptions into these in one place each, with ``raise ... from``.

Who must act, as python-tuf splits its errors:

- :class:`UnavailableError`: something the hub needs (a Kafka broker, a verifier, a
  witness) did not answer. Nothing is wrong with the data; try again later.
  Exit code 75 (``EX_TEMPFAIL``), so scripts can tell "retry" from "fix something".
- :class:`ConfigError`: the operator's configuration, machine or environment
  (flags, files, a missing program, a port taken). Exit code 2.
- :class:`InputError`: bytes or values handed to the hub are refused (they do not
  decode, do not fit their schema or limit). The caller must change them. Exit code 2.
- :class:`IntegrityError`: a signature, hash link or proof does not verify: the data
  is wrong, whoever produced it. Exit code 1, like an audit that finds violations.
- :class:`KafkaOperationError`: Kafka answered and refused an operation for a
  reason other than being unreachable (authorisation, a topic's configuration, a sequencer
  fenced by its successor: :class:`FencedError`).

Only :mod:`hub.kafka` sees the Kafka client library's exceptions; it translates each into one of these
(:func:`hub.kafka.clients.translate`).
"""

from __future__ import annotations

#: exit code of an :class:`UnavailableError` (sysexits.h ``EX_TEMPFAIL``: retry later)
EXIT_UNAVAILABLE = 75
#: exit code of a :class:`FencedError`: another instance took over; a supervisor must not restart
#: this one (systemd ``RestartPreventExitStatus=3``)
EXIT_FENCED = 3


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 2

    def diagnostics(self) -> str:
        """One line for a person: what went wrong and, where known, what to do."""
        return str(self) or self.__class__.__name__


# -- unavailable: retry later ------------------------------------------------------------------------

class UnavailableError(HubError):
    """A service the hub needs did not answer in time; nothing is wrong with the data, retry later."""

    exit_code = EXIT_UNAVAILABLE


class BrokerUnavailableError(UnavailableError):
    """No Kafka broker answered at the configured bootstrap address."""


class VerifierUnavailableError(UnavailableError):
    """A verifier (``hub verifier run``) did not answer or answered with a server error."""


class WitnessUnavailableError(UnavailableError):
    """A witness could not be reached or did not answer as the tlog-witness protocol says."""


class QueueFullError(UnavailableError):
    """A Kafka client's local queue is full: the broker is not keeping up. Retry with back-off
    (tessera's ``ErrPushback``; the connector answers ``RESOURCE_EXHAUSTED``)."""


# -- configuration: the operator acts ---------------------------------------------------------------

class ConfigError(HubError):
    """The configuration (flags, environment, files) is missing or wrong."""


class ToolMissingError(ConfigError):
    """A program the hub needs on this machine (java, mvn, docker) is absent."""


class PortInUseError(ConfigError):
    """A server could not bind its port because something else holds it."""


class KafkaOperationError(HubError):
    """A Kafka operation failed for a reason other than an unreachable broker."""


class KafkaAccessDeniedError(KafkaOperationError):
    """Kafka refused this process's principal: its certificate or credentials (authentication) or
    its rights on a topic, group or transactional id (the ACLs of ``hub kafka acls apply``)."""


class FencedError(KafkaOperationError):
    """A newer producer with the same ``transactional.id`` (a restarted sequencer) took over: this
    one must stop. Its open transaction was aborted by the broker; nothing of it is visible."""

    exit_code = EXIT_FENCED


class TransactionAbortedError(KafkaOperationError):
    """Kafka asked for the open transaction to be aborted, and it was: nothing of it is visible to a
    ``read_committed`` reader. The caller restores its state and produces the batch again."""


# -- refused input: the caller acts -----------------------------------------------------------------

class InputError(HubError):
    """Bytes or values handed to the hub are refused; the one who sent them must change them."""


class DecodeError(InputError):
    """Bytes could not be decoded as the hub format they claim to be."""


class EncodeError(InputError):
    """A value could not be encoded (it does not fit its schema or its size limit)."""


class SchemaError(InputError):
    """A schema is unknown, unreadable or incompatible."""


# -- integrity: the data is wrong -------------------------------------------------------------------

class IntegrityError(HubError):
    """Data does not verify: whoever produced it, it must not be trusted."""

    exit_code = 1


class VerificationError(IntegrityError):
    """A signature, hash link or proof does not verify."""

    def __init__(self, message: str, *, expected: str | None = None, calculated: str | None = None):
        super().__init__(message)
        self.expected = expected
        self.calculated = calculated

    def diagnostics(self) -> str:
        text = str(self)
        if self.expected is not None or self.calculated is not None:
            text += f" (expected {self.expected}, calculated {self.calculated})"
        return text
