"""Entra resource actions: the known cross-tenant actions and the wildcard forms of role definitions.

A resource action is ``{namespace}/{entity}[/{sub-entity}...][/{propertySet}]/{action}``
(unifiedRolePermission, microsoft-graph-docs-contrib, ms.date 2024-07-26). Names compare without
regard to case (D13): everything here works on lower-cased names.

Wildcards (what each reserved word matches, fail closed where Microsoft is silent):

- ``allProperties`` stands for exactly one property-set segment of the same entity path
  (``standard``, ``basic``, ``allowedCloudEndpoints``...) before read/update and other verbs;
  create and delete act on the entity and take no property set. It does not reach sub-entities: the
  built-in Global Administrator definition lists ``users/allProperties/allTasks`` *and*
  ``users/authenticationMethods/create``, ``accessReviews/allProperties/allTasks`` *and*
  ``accessReviews/definitions/allProperties/allTasks``, so a sub-entity needs its own action.
  ``X/allProperties/allTasks`` also covers the entity-level ``X/create`` and ``X/delete``.
- ``allTasks`` stands for the CRUD verbs: create, read, update, delete. Other verbs
  (``resetToDefaultSettings``) must be listed.
- ``allEntities`` (used by built-ins in other namespaces: ``microsoft.teams/allEntities/...``)
  stands for any entity path of one or more segments.

Wildcards are expanded at compile time against the known actions (section 5 of graph-model.md
plus the names a tenant's ``resourceActions.json`` lists); an action outside that list is only
ever granted by a literal match.
"""

from __future__ import annotations

import re

CROSS_TENANT_PREFIX = "microsoft.directory/crosstenantaccesspolicy/"

#: graph-model.md section 5, as Graph spells them (the seed writes the tenantRelationships action
#: as `microsoft.directory.tenantRelationships/...`, a typo for the namespace separator).
KNOWN_ACTIONS: tuple[str, ...] = (
    *(
        f"microsoft.directory/crossTenantAccessPolicy/{suffix}"
        for suffix in (
            "standard/read",
            "basic/update",
            "allowedCloudEndpoints/update",
            "default/standard/read",
            "default/b2bCollaboration/update",
            "default/b2bDirectConnect/update",
            "default/crossCloudMeetings/update",
            "default/tenantRestrictions/update",
            "partners/standard/read",
            "partners/create",
            "partners/delete",
            "partners/b2bCollaboration/update",
            "partners/b2bDirectConnect/update",
            "partners/crossCloudMeetings/update",
            "partners/tenantRestrictions/update",
            "partners/identitySynchronization/create",
            "partners/identitySynchronization/basic/update",
            "partners/identitySynchronization/standard/read",
            "partners/templates/multiTenantOrganizationPartnerConfiguration/standard/read",
            "partners/templates/multiTenantOrganizationPartnerConfiguration/basic/update",
            "partners/templates/multiTenantOrganizationPartnerConfiguration/resetToDefaultSettings",
            "partners/templates/multiTenantOrganizationIdentitySynchronization/standard/read",
            "partners/templates/multiTenantOrganizationIdentitySynchronization/basic/update",
            "partners/templates/multiTenantOrganizationIdentitySynchronization/resetToDefaultSettings",
        )
    ),
    "microsoft.directory/tenantRelationships/standard/read",
)

KNOWN_LOWER: frozenset[str] = frozenset(a.lower() for a in KNOWN_ACTIONS)
#: Lower-case name -> Graph's spelling, for did-you-mean and explanations.
SPELLING: dict[str, str] = {a.lower(): a for a in KNOWN_ACTIONS}

ALL_PROPERTIES = "allproperties"
ALL_TASKS = "alltasks"
ALL_ENTITIES = "allentities"
WILDCARDS = frozenset({ALL_PROPERTIES, ALL_TASKS, ALL_ENTITIES})
CRUD = frozenset({"create", "read", "update", "delete"})
_ENTITY_VERBS = frozenset({"create", "delete"})

#: A syntactically valid resource action: a namespace and at least one more segment.
ACTION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)+")
MAX_ACTION_LENGTH = 512


def is_wildcard(action: str) -> bool:
    """Whether a lower-cased action holds a reserved wildcard segment."""
    return not WILDCARDS.isdisjoint(action.split("/"))


def _verb_matches(pattern_verb: str, verb: str) -> bool:
    return verb == pattern_verb or (pattern_verb == ALL_TASKS and verb in CRUD)


def _entity_matches(pattern: list[str], path: list[str]) -> bool:
    """Entity segments (after the namespace); ``allentities`` takes one or more."""
    if not pattern:
        return not path
    head = pattern[0]
    if head == ALL_ENTITIES:
        return any(_entity_matches(pattern[1:], path[n:]) for n in range(1, len(path) + 1))
    return bool(path) and path[0] == head and _entity_matches(pattern[1:], path[1:])


def matches(pattern: str, action: str) -> bool:
    """Whether a lower-cased role-definition action (wildcards allowed) covers a lower-cased action."""
    if pattern == action:
        return True
    if not is_wildcard(pattern):
        return False
    p, a = pattern.split("/"), action.split("/")
    if len(p) < 2 or len(a) < 2 or p[0] != a[0]:
        return False
    p_body, p_verb = p[1:-1], p[-1]
    a_body, a_verb = a[1:-1], a[-1]
    if not _verb_matches(p_verb, a_verb):
        return False
    if p_body and p_body[-1] == ALL_PROPERTIES:
        entity = p_body[:-1]
        if a_verb in _ENTITY_VERBS:  # create/delete act on the entity itself: no property set
            return _entity_matches(entity, a_body)
        return bool(a_body) and _entity_matches(entity, a_body[:-1])
    return _entity_matches(p_body, a_body)


def expand(pattern: str, known: frozenset[str]) -> frozenset[str]:
    """The actions a lower-cased pattern grants: itself when literal, else the known actions it covers."""
    if not is_wildcard(pattern):
        return frozenset({pattern})
    return frozenset(a for a in known if matches(pattern, a))


def misspelt(value: str) -> tuple[bool, str | None]:
    """Whether an action that is not known looks like a known one misspelt, and the closest known
    spelling: an unknown crossTenantAccessPolicy action, or the seed's `microsoft.directory.X/...`
    (a dot for the namespace's slash)."""
    from xtenant_pdp.graph.reader import suggest

    lower = value.lower()
    if lower in KNOWN_LOWER or is_wildcard(lower):
        return False, None
    if lower.startswith(_DOTTED_NAMESPACE):
        fixed = "microsoft.directory/" + lower[len(_DOTTED_NAMESPACE) :]
        if fixed in KNOWN_LOWER:
            return True, SPELLING[fixed]
    if lower.startswith(CROSS_TENANT_PREFIX):
        return True, suggest(value, SPELLING.values())
    return False, None


_DOTTED_NAMESPACE = "microsoft.directory."
