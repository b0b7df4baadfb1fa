"""A member key's validity window and revocation, shared by signing and encryption keys (pure)."""

from __future__ import annotations


class KeyWindow:
    """Methods for a key dataclass with ``not_before``, ``not_after``, ``revoked_at`` (microseconds)
    and ``revoked_in_version`` fields (:class:`hub.consortium.membership.MemberKey`,
    :class:`hub.consortium.encryption_keys.MemberEncryptionKey`)."""

    not_before: int
    not_after: int | None
    revoked_at: int | None
    revoked_in_version: int | None

    def valid_at(self, at_us: int) -> bool:
        """Whether a message created (or encrypted) at ``at_us`` falls within the key's validity period."""
        return self.not_before <= at_us and (self.not_after is None or at_us <= self.not_after)

    def is_revoked(self, at_us: int, membership_version: int) -> bool:
        """Whether a message created at ``at_us`` and validated against membership
        ``membership_version`` must be refused as using a revoked key: revoked from a version on (a
        ``revoke_key`` or ``revoke_encryption_key`` update) or from a time on (``revoked_at``)."""
        if self.revoked_in_version is not None and membership_version >= self.revoked_in_version:
            return True
        return self.revoked_at is not None and at_us >= self.revoked_at
