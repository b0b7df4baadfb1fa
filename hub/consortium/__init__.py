"""The consortium: identities, membership and its quorum-approved updates, development PKI."""
