"""Which role action and which Entra audit activity a change of one property needs.

One table, read by ``diff`` (the ``requiredAction`` and ``activity`` of every record) and meant
for reuse by the role-action checks of ``plan --principal``. Sources:

* role actions: graph-model.md section 5 (E-roles, E-pa). The docs name each action by the
  Graph operation it permits, not by property; rows marked ``inferred`` are this project's
  reading where section 5 is silent.
* activities: Microsoft Entra "Audit log activities" reference
  (MicrosoftDocs/entra-docs, docs/identity/monitoring-health/reference-audit-activities.md),
  category CrossTenantAccessSettings: "Add a partner to cross-tenant access setting",
  "Update a partner cross-tenant access setting", "Delete partner specific cross-tenant access
  setting", "Reset the cross-tenant access default setting"; the same page lists "Update the
  company default cross-tenant access setting" and the "... partner cross-tenant identity sync
  setting" activities under CrossTenantIdentitySyncSettings (we keep the issue's one category
  for every record). No activity is listed for allowedCloudEndpoints: "Update cross-tenant
  access policy" is inferred.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PREFIX = "microsoft.directory/crossTenantAccessPolicy/"


class Scope(enum.Enum):
    """What a record is about: its ``target`` is ``policy``, ``default`` or a partner tenant id."""

    POLICY = "policy"
    DEFAULT = "default"
    PARTNER = "partner"


class Change(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class ActionRule:
    scope: Scope
    #: A Graph JSON path prefix ("" matches the object itself: create/delete).
    prefix: str
    change: Change
    #: The role action without its ``microsoft.directory/crossTenantAccessPolicy/`` prefix;
    #: None: nobody can make this change through Graph (read-only, set by the service).
    action: str | None
    activity: str
    inferred: bool = False
    note: str = ""

    @property
    def required_action(self) -> str | None:
        return None if self.action is None else PREFIX + self.action


_PARTNER_UPDATE = "Update a partner cross-tenant access setting"
_DEFAULT_UPDATE = "Update the company default cross-tenant access setting"
_SYNC_UPDATE = "Update a partner cross-tenant identity sync setting"

#: First match wins (longest prefixes first within a scope).
RULES: tuple[ActionRule, ...] = (
    ActionRule(
        Scope.POLICY,
        "allowedCloudEndpoints",
        Change.UPDATE,
        "allowedCloudEndpoints/update",
        "Update cross-tenant access policy",
        inferred=True,
        note="activity name inferred",
    ),
    ActionRule(
        Scope.POLICY,
        "displayName",
        Change.UPDATE,
        "basic/update",
        "Update cross-tenant access policy",
        inferred=True,
        note="activity name inferred",
    ),
    ActionRule(
        Scope.DEFAULT,
        "isServiceDefault",
        Change.RESET,
        "default/b2bCollaboration/update",
        "Reset the cross-tenant access default setting",
        inferred=True,
        note="a reset touches every default setting; section 5 names no reset action",
    ),
    ActionRule(
        Scope.DEFAULT,
        "isServiceDefault",
        Change.UPDATE,
        None,
        _DEFAULT_UPDATE,
        note="read-only: turns false by itself on the first change of the default",
    ),
    ActionRule(
        Scope.DEFAULT,
        "id",
        Change.UPDATE,
        None,
        _DEFAULT_UPDATE,
        note="read-only: the tenant restrictions v2 policy id Entra assigns",
    ),
    ActionRule(Scope.DEFAULT, "b2bCollaboration", Change.UPDATE, "default/b2bCollaboration/update", _DEFAULT_UPDATE),
    ActionRule(Scope.DEFAULT, "b2bDirectConnect", Change.UPDATE, "default/b2bDirectConnect/update", _DEFAULT_UPDATE),
    ActionRule(
        Scope.DEFAULT, "tenantRestrictions", Change.UPDATE, "default/tenantRestrictions/update", _DEFAULT_UPDATE
    ),
    ActionRule(
        Scope.DEFAULT,
        "inboundTrust",
        Change.UPDATE,
        "default/b2bCollaboration/update",
        _DEFAULT_UPDATE,
        inferred=True,
        note="graph-model.md 5 groups inbound trust with B2B collaboration (INFERRED)",
    ),
    ActionRule(
        Scope.DEFAULT,
        "automaticUserConsentSettings",
        Change.UPDATE,
        None,
        _DEFAULT_UPDATE,
        note="read-only on the default (always false/false, G-def)",
    ),
    ActionRule(
        Scope.PARTNER,
        "identitySynchronization",
        Change.CREATE,
        "partners/identitySynchronization/create",
        "Create a partner cross-tenant identity sync setting",
    ),
    ActionRule(
        Scope.PARTNER,
        "identitySynchronization",
        Change.DELETE,
        "partners/identitySynchronization/basic/update",
        "Delete a partner cross-tenant identity sync setting",
        inferred=True,
        note="section 5 lists no identity sync delete action",
    ),
    ActionRule(
        Scope.PARTNER,
        "identitySynchronization",
        Change.UPDATE,
        "partners/identitySynchronization/basic/update",
        _SYNC_UPDATE,
    ),
    ActionRule(Scope.PARTNER, "", Change.CREATE, "partners/create", "Add a partner to cross-tenant access setting"),
    ActionRule(
        Scope.PARTNER, "", Change.DELETE, "partners/delete", "Delete partner specific cross-tenant access setting"
    ),
    ActionRule(Scope.PARTNER, "b2bCollaboration", Change.UPDATE, "partners/b2bCollaboration/update", _PARTNER_UPDATE),
    ActionRule(Scope.PARTNER, "b2bDirectConnect", Change.UPDATE, "partners/b2bDirectConnect/update", _PARTNER_UPDATE),
    ActionRule(
        Scope.PARTNER, "tenantRestrictions", Change.UPDATE, "partners/tenantRestrictions/update", _PARTNER_UPDATE
    ),
    ActionRule(
        Scope.PARTNER,
        "inboundTrust",
        Change.UPDATE,
        "partners/b2bCollaboration/update",
        _PARTNER_UPDATE,
        inferred=True,
        note="graph-model.md 5 groups inbound trust with B2B collaboration (INFERRED)",
    ),
    ActionRule(
        Scope.PARTNER,
        "automaticUserConsentSettings",
        Change.UPDATE,
        "partners/b2bCollaboration/update",
        _PARTNER_UPDATE,
        inferred=True,
        note="section 5 is silent; grouped with B2B collaboration",
    ),
    ActionRule(
        Scope.PARTNER,
        "isServiceProvider",
        Change.UPDATE,
        None,
        _PARTNER_UPDATE,
        note="set by the service for GDAP partners, not by an admin",
    ),
)


def rule_for(scope: Scope, prop: str, change: Change) -> ActionRule:
    """The rule for a change; a property no row names is a bug in this table (KeyError)."""
    for rule in RULES:
        if rule.scope is scope and rule.change is change and prop.startswith(rule.prefix):
            return rule
    raise KeyError(f"no action rule for {scope.value} {change.value} {prop!r}")
