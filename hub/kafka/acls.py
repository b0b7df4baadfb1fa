"""Applying and reading the hub's Kafka ACLs with the AdminClient (``hub kafka acls apply|list``).

:func:`apply_acls` makes the cluster hold exactly :func:`~hub.kafka.acl_policy.desired_grants` for
a namespace: it creates what is missing and deletes what the namespace holds beyond it (a removed
member's grants), and changes nothing when run twice. It must run as a principal allowed to
alter ACLs: the operator (the local broker's super user).
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported at runtime
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from hub.consortium.membership import Membership
from hub.kafka.acl_policy import Grant, Operation, Pattern, Resource, desired_grants, managed
from hub.kafka.clients import admin_client, translate

_RESOURCE = {Resource.TOPIC: ResourceType.TOPIC, Resource.GROUP: ResourceType.GROUP,
             Resource.TRANSACTIONAL_ID: ResourceType.TRANSACTIONAL_ID}
_PATTERN = {Pattern.LITERAL: ResourcePatternType.LITERAL, Pattern.PREFIXED: ResourcePatternType.PREFIXED}
_OPERATION = {Operation.READ: AclOperation.READ, Operation.WRITE: AclOperation.WRITE,
              Operation.CREATE: AclOperation.CREATE}
_TIMEOUT = 30.0


@dataclass(frozen=True)
class AclChanges:
    """What :func:`apply_acls` did."""

    added: tuple[Grant, ...]
    removed: tuple[Grant, ...]
    kept: int


def _binding(g: Grant) -> AclBinding:
    return AclBinding(_RESOURCE[g.resource], g.name, _PATTERN[g.pattern], f"User:{g.principal}", "*",
                      _OPERATION[g.operation], AclPermissionType.ALLOW)


def _grant(b: AclBinding) -> Grant | None:
    """The hub's grant an ACL on the cluster is, or None if it is not of a shape the hub writes."""
    resource = next((k for k, v in _RESOURCE.items() if v == b.restype), None)
    pattern = next((k for k, v in _PATTERN.items() if v == b.resource_pattern_type), None)
    operation = next((k for k, v in _OPERATION.items() if v == b.operation), None)
    if (resource is None or pattern is None or operation is None or b.permission_type != AclPermissionType.ALLOW
            or b.host != "*" or not b.principal.startswith("User:")):
        return None
    return Grant(b.principal[len("User:"):], resource, pattern, b.name, operation)


def cluster_acls(bootstrap: str) -> list[AclBinding]:
    """Every ACL binding on the cluster."""
    admin = admin_client(bootstrap)
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
                             AclOperation.ANY, AclPermissionType.ANY)  # None matches any name, principal, host
    try:
        return list(admin.describe_acls(every, request_timeout=_TIMEOUT).result())
    except KafkaException as exc:
        raise translate(exc, "reading the cluster's ACLs", bootstrap) from exc


def namespace_grants(bootstrap: str, namespace: str) -> tuple[set[Grant], list[AclBinding]]:
    """(the hub's grants the cluster holds for ``namespace``, the other ACLs on its resources)."""
    grants, others = set(), []
    for b in cluster_acls(bootstrap):
        g = _grant(b)
        if g is not None and managed(namespace, g):
            grants.add(g)
        elif g is None and managed(namespace, Grant("", Resource.TOPIC, Pattern.LITERAL, b.name, Operation.READ)):
            others.append(b)
    return grants, others


def apply_acls(bootstrap: str, namespace: str, membership: Membership) -> AclChanges:
    """Make the cluster's grants for ``namespace`` exactly those ``membership`` calls for."""
    want = desired_grants(membership, namespace)
    have, _ = namespace_grants(bootstrap, namespace)
    add, remove = sorted(want - have), sorted(have - want)
    admin = admin_client(bootstrap)
    try:
        if add:
            for fut in admin.create_acls([_binding(g) for g in add], request_timeout=_TIMEOUT).values():
                fut.result()
        if remove:
            filters = [AclBindingFilter(_RESOURCE[g.resource], g.name, _PATTERN[g.pattern], f"User:{g.principal}",
                                        "*", _OPERATION[g.operation], AclPermissionType.ALLOW) for g in remove]
            for fut in admin.delete_acls(filters, request_timeout=_TIMEOUT).values():
                fut.result()
    except KafkaException as exc:
        raise translate(exc, f"applying the ACLs of namespace {namespace}", bootstrap) from exc
    return AclChanges(tuple(add), tuple(remove), len(want & have))
