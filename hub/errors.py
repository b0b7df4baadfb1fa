"""The hub's errors: one root, subclasses by cause.

Every expected failure the hub can meet is a :class:`HubError`. The CLI prints
``diagnostics()`` as one line and exits non-zero; it never formats errors itself.
Boundaries (Kafka, gRPC, fastavro, cryptography, files) translate their own
exceptions into these in one place each, with ``raise ... from``.
"""

from __future__ import annotations


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    #: process exit code the CLI uses for this error
    exit_code: int = 2

    def diagnostics(self) -> str:
        """One line for a person: what went wrong and, where known, what to do."""
        return str(self) or self.__class__.__name__


class ConfigError(HubError):
    """The configuration (flags, environment, files) is missing or wrong."""


class ToolMissingError(HubError):
    """A program the hub needs on this machine (java, mvn, docker) is absent."""


class BrokerUnavailableError(HubError):
    """No Kafka broker answered at the configured bootstrap address."""


class KafkaOperationError(HubError):
    """A Kafka operation failed for a reason other than an unreachable broker."""


class PortInUseError(HubError):
    """A server could not bind its port because something else holds it."""


class DecodeError(HubError):
    """Bytes could not be decoded as the hub format they claim to be."""


class EncodeError(HubError):
    """A value could not be encoded (it does not fit its schema or its size limit)."""


class SchemaError(HubError):
    """A schema is unknown, unreadable or incompatible."""


class VerificationError(HubError):
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
