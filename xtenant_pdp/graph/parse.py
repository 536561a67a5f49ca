"""PARSE stage: Graph JSON bodies and a policy directory -> :mod:`xtenant_pdp.graph.model`.

Reads the verbatim bodies of GET /policies/crossTenantAccessPolicy, .../default and
.../partners?$expand=identitySynchronization. Shape problems become CompileIssues with file
and JSON path; everything found in every file is reported together (see ``parse_policy_dir``).
Semantics (inheritance, conflicts, id rules) are the compiler's business, not this module's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from xtenant_pdp.decision import CLOUD_ENDPOINTS
from xtenant_pdp.errors import MAX_ISSUES, CompileErrors, CompileIssue, IssueCode, Severity
from xtenant_pdp.graph.files import (
    CATALOG_FILE,
    DEFAULT_FILE,
    PARTNERS_FILE,
    POLICY_FILE,
    TENANT_FILE,
    WAIVERS_FILE,
    load_json,
    outside,
    tenant_folder_files,
)
from xtenant_pdp.graph.model import (
    ALL_USERS,
    APPLICATION_KEYWORDS,
    USER_KEYWORDS,
    AccessType,
    ApplicationCatalog,
    B2BSetting,
    ConsentSettings,
    CrossTenantAccessPolicy,
    DefaultConfiguration,
    IdentitySyncPolicy,
    InboundTrust,
    License,
    Loc,
    PartnerConfiguration,
    PolicySource,
    Target,
    TargetConfiguration,
    TargetType,
    TenantInfo,
    TenantSource,
)
from xtenant_pdp.graph.reader import Reader, is_guid, suggest
from xtenant_pdp.graph.roles import ROLE_FILES, RoleExport, parse_role_file
from xtenant_pdp.graph.waivers import parse_waivers

_B2B_KEYS = {
    "b2bCollaborationInbound": "b2b_collaboration_inbound",
    "b2bCollaborationOutbound": "b2b_collaboration_outbound",
    "b2bDirectConnectInbound": "b2b_direct_connect_inbound",
    "b2bDirectConnectOutbound": "b2b_direct_connect_outbound",
}
# Documented Graph properties that decisions do not use: ignored silently (R5).
_UNUSED_CONFIG_KEYS = frozenset(
    {
        "m365CollaborationInbound",
        "m365CollaborationOutbound",
        "appServiceConnectInbound",
        "crossCloudMeetingConfiguration",
        "protectedContentSharing",
        "invitationRedemptionIdentityProviderConfiguration",
        "blockServiceProviderOutboundAccess",
        "m365Capabilities",
        "serviceProviderConstraints",
        "deletedDateTime",
        "templates",
    }
)
_CONFIG_KEYS = frozenset(
    {*_B2B_KEYS, "tenantRestrictions", "inboundTrust", "automaticUserConsentSettings", *_UNUSED_CONFIG_KEYS}
)
_DEFAULT_KEYS = _CONFIG_KEYS | {"id", "isServiceDefault"}
_PARTNER_KEYS = _CONFIG_KEYS | {
    "tenantId",
    "displayName",
    "isServiceProvider",
    "isInMultiTenantOrganization",
    "identitySynchronization",
}
_POLICY_KEYS = frozenset(
    {
        "id",
        "displayName",
        "description",
        "allowedCloudEndpoints",
        "definition",
        "lastModifiedDateTime",
        "deletedDateTime",
        "isOrganizationDefault",
        "default",
        "partners",
        "templates",
    }
)
_SETTING_KEYS = frozenset({"usersAndGroups", "applications", "devices"})
_TARGET_CONFIG_KEYS = frozenset({"accessType", "targets"})
_TARGET_KEYS = frozenset({"target", "targetType"})
_TRUST_KEYS = frozenset(
    {"isMfaAccepted", "isCompliantDeviceAccepted", "isHybridAzureADJoinedDeviceAccepted", "isCompliantNetworkAccepted"}
)
_CONSENT_KEYS = frozenset({"inboundAllowed", "outboundAllowed"})
_SYNC_KEYS = frozenset(
    {
        "tenantId",
        "displayName",
        "userSyncInbound",
        "groupSyncInbound",
        "externalCloudAuthorizedApplicationId",
        "deletedDateTime",
    }
)
_TENANT_KEYS = frozenset({"tenantId", "cloud", "displayName", "license"})
_TARGET_TYPES = {t.value: t for t in TargetType}
_CLOUDS = CLOUD_ENDPOINTS


_HALVES = {
    "usersAndGroups": (USER_KEYWORDS, APPLICATION_KEYWORDS, frozenset({TargetType.USER, TargetType.GROUP})),
    "applications": (APPLICATION_KEYWORDS, USER_KEYWORDS, frozenset({TargetType.APPLICATION})),
}


def _display_name(partner: dict[str, Any]) -> str:
    name = partner.get("displayName")
    sync = partner.get("identitySynchronization")
    if not name and sync.__class__ is dict:
        name = sync.get("displayName")  # type: ignore[union-attr]
    return name if isinstance(name, str) else ""


class GraphParser(Reader):
    """Typed readers for each Graph resource, all sharing one issue list.

    ``check_targets`` (on for policy directories) requires every target to be a GUID or a
    keyword of its half (D4); the overview fragments use placeholders such as `g1` and turn it off.
    """

    def __init__(
        self, file: str, issues: list[CompileIssue], unknown: list[Loc], *, check_targets: bool = True
    ) -> None:
        super().__init__(file, issues, unknown)
        self.check_targets = check_targets
        #: `$.value[i]` -> (tenant id, display name) of each partner entry, valid or not.
        self.partner_names: dict[str, tuple[str, str]] = {}
        #: Called with the number of partners read so far, every 1,024 (progress on a terminal).
        self.tick: Callable[[int], None] | None = None

    def target(self, value: object, list_loc: Loc, index: int, half: str) -> Target | None:
        if value.__class__ is not dict:
            self.obj(value, list_loc.child(index), nullable=False)
            return None
        data: dict[str, Any] = value  # type: ignore[assignment]
        target = data.get("target")
        raw_type = data.get("targetType")
        target_type = _TARGET_TYPES.get(raw_type) if raw_type.__class__ is str else None  # type: ignore[arg-type]
        if target.__class__ is str and target_type is not None and len(data) == 2:
            found = Target(target=target, target_type=target_type, list_loc=list_loc, index=index)  # type: ignore[arg-type]
        else:
            # Slow path: say what is wrong.
            at = list_loc.child(index)
            self.check_keys(data, at, _TARGET_KEYS)
            checked_target = self.string(data, "target", at, required=True)
            checked_type = self.enum_field(data, "targetType", at, TargetType)
            if checked_target is None or checked_type is None:
                return None
            found = Target(target=checked_target, target_type=checked_type, list_loc=list_loc, index=index)
        if found.target_type is TargetType.UNKNOWN_FUTURE_VALUE:
            self.warn(
                found.loc("targetType"),
                'targetType "unknownFutureValue" (a type newer than this PDP) is read fail-closed: the target '
                "matches nobody in an allowed list and everybody in a blocked list (D6)",
                IssueCode.UNKNOWN_FUTURE_VALUE,
                hint="check this target in the Entra admin center; --strict refuses it",
            )
            return found
        if self.check_targets and not self._valid_target(found, half):
            return None
        return found

    def _valid_target(self, target: Target, half: str) -> bool:
        """D4: a GUID or one of the half's keywords, spelt as Graph writes it, of a matching targetType."""
        keywords, other_keywords, allowed_types = _HALVES[half]
        value = target.target
        ok = True
        if target.target_type not in allowed_types:
            expected = " or ".join(sorted(f'"{t.value}"' for t in allowed_types))
            self.error(
                target.loc("targetType"),
                f'targetType "{target.target_type.value}" does not belong in {half}',
                IssueCode.TARGET_TYPE_MISMATCH,
                hint=f"use {expected}",
            )
            ok = False
        if value in keywords:
            if value == ALL_USERS and target.target_type is not TargetType.USER:
                self.error(
                    target.loc("targetType"),
                    "`AllUsers` has targetType user",
                    IssueCode.TARGET_TYPE_MISMATCH,
                    hint='use "user"',
                )
                return False
            return ok
        if value in other_keywords:
            self.error(target.loc(), f"`{value}` does not belong in {half}", IssueCode.TARGET_TYPE_MISMATCH)
            return False
        if not is_guid(value):
            best = suggest(value, keywords)
            self.error(
                target.loc(),
                f"`{value}` is neither a GUID nor a keyword",
                IssueCode.INVALID_TARGET,
                hint=f'did you mean "{best}"?' if best else "use an object or application id (GUID)",
            )
            return False
        return ok

    def target_configuration(self, value: object, at: Loc, half: str) -> TargetConfiguration | None:
        data = self.obj(value, at)
        if data is None:
            return None
        self.check_keys(data, at, _TARGET_CONFIG_KEYS)
        access = self.enum_field(data, "accessType", at, AccessType)
        if access is AccessType.UNKNOWN_FUTURE_VALUE:
            self.warn(
                at.child("accessType"),
                'accessType "unknownFutureValue" (a value newer than this PDP) is read fail-closed: the setting '
                "denies every user and every application (D6)",
                IssueCode.UNKNOWN_FUTURE_VALUE,
                hint="check this setting in the Entra admin center; --strict refuses it",
            )
        targets_at = at.child("targets")
        raw = self.array(data.get("targets"), targets_at)
        # Every target is read (and checked) even when the half is already broken: all errors at once.
        targets = tuple(t for i, v in enumerate(raw) if (t := self.target(v, targets_at, i, half)))
        if access is None or len(targets) != len(raw):
            return None
        return TargetConfiguration(access_type=access, targets=targets, loc=at)

    def b2b_setting(self, value: object, at: Loc) -> B2BSetting | None:
        data = self.obj(value, at)
        if data is None:
            return None
        self.check_keys(data, at, _SETTING_KEYS)
        return B2BSetting(
            users_and_groups=self.target_configuration(
                data.get("usersAndGroups"), at.child("usersAndGroups"), "usersAndGroups"
            ),
            applications=self.target_configuration(data.get("applications"), at.child("applications"), "applications"),
            loc=at,
        )

    def inbound_trust(self, value: object, at: Loc) -> InboundTrust | None:
        data = self.obj(value, at)
        if data is None:
            return None
        self.check_keys(data, at, _TRUST_KEYS)
        return InboundTrust(
            is_mfa_accepted=self.boolean(data, "isMfaAccepted", at),
            is_compliant_device_accepted=self.boolean(data, "isCompliantDeviceAccepted", at),
            is_hybrid_azure_ad_joined_device_accepted=self.boolean(data, "isHybridAzureADJoinedDeviceAccepted", at),
            loc=at,
        )

    def consent(self, value: object, at: Loc) -> ConsentSettings | None:
        data = self.obj(value, at)
        if data is None:
            return None
        self.check_keys(data, at, _CONSENT_KEYS)
        return ConsentSettings(
            inbound_allowed=self.boolean(data, "inboundAllowed", at),
            outbound_allowed=self.boolean(data, "outboundAllowed", at),
            loc=at,
        )

    def _sync_flag(self, data: dict[str, Any], key: str, at: Loc) -> bool | None:
        inner = self.obj(data.get(key), at.child(key))
        if inner is None:
            return None
        self.check_keys(inner, at.child(key), frozenset({"isSyncAllowed"}))
        return self.boolean(inner, "isSyncAllowed", at.child(key))

    def identity_sync(self, value: object, at: Loc) -> IdentitySyncPolicy | None:
        data = self.obj(value, at)
        if data is None:
            return None
        self.check_keys(data, at, _SYNC_KEYS)
        return IdentitySyncPolicy(
            tenant_id=self.guid(data, "tenantId", at),
            display_name=self.string(data, "displayName", at),
            user_sync_allowed=self._sync_flag(data, "userSyncInbound", at),
            group_sync_allowed=self._sync_flag(data, "groupSyncInbound", at),
            loc=at,
        )

    def _configuration_fields(self, data: dict[str, Any], at: Loc) -> dict[str, Any]:
        fields: dict[str, Any] = {
            attr: self.b2b_setting(data.get(key), at.child(key)) for key, attr in _B2B_KEYS.items()
        }
        fields["tenant_restrictions"] = self.b2b_setting(data.get("tenantRestrictions"), at.child("tenantRestrictions"))
        fields["inbound_trust"] = self.inbound_trust(data.get("inboundTrust"), at.child("inboundTrust"))
        fields["automatic_user_consent_settings"] = self.consent(
            data.get("automaticUserConsentSettings"), at.child("automaticUserConsentSettings")
        )
        return fields

    def default_configuration(self, value: object, at: Loc) -> DefaultConfiguration | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.check_keys(data, at, _DEFAULT_KEYS)
        return DefaultConfiguration(
            id=self.guid(data, "id", at),
            is_service_default=self.boolean(data, "isServiceDefault", at),
            loc=at,
            **self._configuration_fields(data, at),
        )

    def partner(self, value: object, at: Loc) -> PartnerConfiguration | None:
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.check_keys(data, at, _PARTNER_KEYS)
        tenant_id = self.guid(data, "tenantId", at, required=True)
        fields = self._configuration_fields(data, at)
        raw_sync = data.get("identitySynchronization")
        sync_at = at.child("identitySynchronization")
        if raw_sync.__class__ is dict and raw_sync.get("deletedDateTime") is not None:
            self._skip_deleted(raw_sync, sync_at, "identity sync policy of partner", data.get("tenantId"))
            raw_sync = None
        sync = self.identity_sync(raw_sync, sync_at)
        if tenant_id is None:
            return None
        if sync is not None and sync.tenant_id is not None and sync.tenant_id != tenant_id:
            self.error(
                at.child("identitySynchronization").child("tenantId"),
                f"`{sync.tenant_id}` differs from the partner's tenantId `{tenant_id}`",
                IssueCode.MISMATCHED_TENANT_ID,
                hint="an identity sync policy belongs to its partner",
            )
        return PartnerConfiguration(
            tenant_id=tenant_id,
            display_name=self.string(data, "displayName", at),
            is_service_provider=self.boolean(data, "isServiceProvider", at),
            is_in_multi_tenant_organization=self.boolean(data, "isInMultiTenantOrganization", at),
            identity_synchronization=sync,
            loc=at,
            **fields,
        )

    def _skip_deleted(self, data: dict[str, Any], at: Loc, what: str, tenant_id: object) -> None:
        """D10: a soft-deleted object (beta deletedItems shape) is not in force."""
        self.notice(
            at.child("deletedDateTime"),
            f"{what} `{tenant_id}` was deleted at {data['deletedDateTime']}: skipped, not enforced (D10)",
            IssueCode.DELETED_SKIPPED,
            hint="restore it in Entra to enforce it again, or drop it from the export",
        )

    def partners(self, value: object) -> tuple[PartnerConfiguration, ...]:
        """A partners list body: `{"value": [...]}` (a bare array is accepted too)."""
        root = self.root()
        items_at = root
        if isinstance(value, dict):
            self.check_keys(value, root, frozenset({"value"}))
            if "@odata.nextLink" in value:
                self.warn(
                    root.child("@odata.nextLink"),
                    "the export is one page of several: partners on later pages are missing",
                    IssueCode.PAGINATED_EXPORT,
                    hint="follow @odata.nextLink and merge every page's `value` into one file",
                )
            items_at = root.child("value")
            value = value.get("value")
            if value is None:
                self.error(items_at, "is required", IssueCode.MISSING_FIELD, hint='wrap partners in {"value": [...]}')
                return ()
        raw = self.array(value, items_at)
        found: dict[str, Loc] = {}
        result = []
        names = self.partner_names
        tick = self.tick
        for i, item in enumerate(raw):
            if tick is not None and not i & 1023:
                tick(i)
            if item.__class__ is dict and (tid := item.get("tenantId")).__class__ is str:
                names[f"{items_at.path}[{i}]"] = (tid.lower(), _display_name(item))
            if item.__class__ is dict and item.get("deletedDateTime") is not None:
                self._skip_deleted(item, items_at.child(i), "partner", item.get("tenantId"))
                continue
            partner = self.partner(item, items_at.child(i))
            if partner is None:
                continue
            first = found.setdefault(partner.tenant_id, partner.loc)
            if first is not partner.loc:
                self.error(
                    partner.loc.child("tenantId"),
                    f"duplicate partner `{partner.tenant_id}` (first at {first.path})",
                    IssueCode.DUPLICATE_PARTNER,
                    hint="merge the two entries: Graph keys partners by tenantId",
                )
                continue
            result.append(partner)
        return tuple(result)

    def policy(self, value: object) -> CrossTenantAccessPolicy | None:
        """GET /policies/crossTenantAccessPolicy: the singleton, or the documented `value`-wrapped form."""
        root = self.root()
        at = root
        if isinstance(value, dict) and isinstance(value.get("value"), dict):
            at = root.child("value")
            value = value["value"]
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.check_keys(data, at, _POLICY_KEYS | {"value"})
        endpoints_at = at.child("allowedCloudEndpoints")
        endpoints = []
        for i, item in enumerate(self.array(data.get("allowedCloudEndpoints"), endpoints_at)):
            if isinstance(item, str) and item in _CLOUDS:
                endpoints.append(item)
            elif isinstance(item, str):
                best = suggest(item, _CLOUDS)
                self.error(
                    endpoints_at.child(i),
                    f'unknown cloud endpoint "{item}"',
                    IssueCode.UNKNOWN_VALUE,
                    hint=f'did you mean "{best}"?' if best else "expected one of " + ", ".join(_CLOUDS),
                )
            else:
                self.wrong_type(endpoints_at.child(i), item, "a string")
        return CrossTenantAccessPolicy(
            display_name=self.string(data, "displayName", at), allowed_cloud_endpoints=tuple(endpoints), loc=at
        )

    def tenant(self, value: object) -> TenantInfo | None:
        at = self.root()
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        self.check_keys(data, at, _TENANT_KEYS)
        tenant_id = self.guid(data, "tenantId", at, required=True)
        cloud_value = data.get("cloud")
        if cloud_value is None:
            cloud_value = "microsoftonline.com"  # Graph's commercial cloud when not said
        cloud = cloud_value if cloud_value in _CLOUDS else None
        if cloud is None:
            if isinstance(cloud_value, str):
                best = suggest(cloud_value, _CLOUDS)
                self.error(
                    at.child("cloud"),
                    f'unknown cloud "{cloud_value}"',
                    IssueCode.UNKNOWN_VALUE,
                    hint=f'did you mean "{best}"?' if best else "expected one of " + ", ".join(_CLOUDS),
                )
            else:
                self.wrong_type(at.child("cloud"), cloud_value, "a string")
        license_ = self.enum_field(data, "license", at, License, required=False)
        display_name = self.string(data, "displayName", at)
        if tenant_id is None or cloud is None:
            return None
        return TenantInfo(tenant_id=tenant_id, cloud=cloud, display_name=display_name, license=license_, loc=at)

    def catalog(self, value: object) -> ApplicationCatalog | None:
        at = self.root()
        data = self.obj(value, at, nullable=False)
        if data is None:
            return None
        sets: dict[str, frozenset[str]] = {}
        for key in ("Office365", "AllMicrosoftApps"):
            ids = []
            key_at = at.child(key)
            for i, item in enumerate(self.array(data.get(key), key_at)):
                if isinstance(item, str) and is_guid(item):
                    ids.append(item.lower())
                else:
                    self.error(key_at.child(i), f"`{item}` is not an application id", IssueCode.INVALID_GUID)
            sets[key] = frozenset(ids)
        self.check_keys(data, at, frozenset(sets))
        # AllMicrosoftApps covers every Office 365 app by definition.
        return ApplicationCatalog(
            office365=sets["Office365"], all_microsoft_apps=sets["AllMicrosoftApps"] | sets["Office365"], loc=at
        )


# --------------------------------------------------------------------------- documents


def default_catalog() -> ApplicationCatalog:
    """The application catalogue shipped with the package."""
    text = resources.files("xtenant_pdp").joinpath("data").joinpath(CATALOG_FILE).read_text("utf-8")
    issues: list[CompileIssue] = []
    catalog = GraphParser(f"<package>/{CATALOG_FILE}", issues, []).catalog(json.loads(text))
    if catalog is None or issues:
        raise CompileErrors(issues)
    return catalog


def parse_b2b_setting_document(document: object, file: str) -> B2BSetting:
    """A `{"b2bSetting": {...}}` fragment (the overview scenario files). Raises CompileErrors."""
    issues: list[CompileIssue] = []
    parser = GraphParser(file, issues, [], check_targets=False)
    root = parser.obj(document, parser.root(), nullable=False)
    setting = None
    if root is not None:
        setting = parser.b2b_setting(root.get("b2bSetting"), parser.root().child("b2bSetting"))
    errors = [i for i in issues if i.severity is Severity.ERROR]
    if errors or setting is None:
        raise CompileErrors(
            errors
            or [CompileIssue(file=file, path="$.b2bSetting", message="is required", code=IssueCode.MISSING_FIELD)]
        )
    return setting


def _parse_tenant_folder(
    folder: Path,
    root: Path,
    issues: list[CompileIssue],
    unknown: list[Loc],
    partners_at: dict[tuple[str, str], tuple[str, str]],
    tick: Callable[[int], None] | None = None,
) -> TenantSource | None:
    rel = folder.relative_to(root).as_posix()
    present = tenant_folder_files(folder, rel, issues)
    real_root = root.resolve()

    def read(name: str) -> tuple[GraphParser, object] | None:
        if name not in present:
            return None
        display = f"{rel}/{name}"
        ok, document = load_json(folder / name, display, issues, real_root)
        if not ok:
            return None
        parser = GraphParser(display, issues, unknown)
        parser.tick = tick
        return parser, document

    info = None
    tenant_doc = read(TENANT_FILE)
    if tenant_doc is None and TENANT_FILE not in present:
        issues.append(
            CompileIssue(
                file=f"{rel}/{TENANT_FILE}",
                path="$",
                message="is missing",
                code=IssueCode.UNREADABLE_FILE,
                hint='add {"tenantId": "<GUID>", "cloud": "microsoftonline.com"}',
            )
        )
    elif tenant_doc is not None:
        info = tenant_doc[0].tenant(tenant_doc[1])
    policy = default = None
    partners: tuple[PartnerConfiguration, ...] = ()
    if (doc := read(POLICY_FILE)) is not None:
        policy = doc[0].policy(doc[1])
    if (doc := read(DEFAULT_FILE)) is not None:
        default = doc[0].default_configuration(doc[1], doc[0].root())
    if (doc := read(PARTNERS_FILE)) is not None:
        partners = doc[0].partners(doc[1])
        partners_at.update(((doc[0].file, path), name) for path, name in doc[0].partner_names.items())
    roles = {name: parse_role_file(name, doc[1], doc[0].file, issues) for name in ROLE_FILES if (doc := read(name))}
    waivers = ()
    if (doc := read(WAIVERS_FILE)) is not None:
        waivers = parse_waivers(doc[0], doc[1])
    if info is None:
        return None
    return TenantSource(
        folder=rel,
        info=info,
        policy=policy,
        default=default,
        partners=partners,
        roles=_role_export(roles),
        waivers=waivers,
    )


def _role_export(found: dict[str, Any]) -> RoleExport | None:
    if not found:
        return None
    definitions, assignments, actions = (found.get(name) for name in ROLE_FILES)
    return RoleExport(definitions=definitions, assignments=assignments, resource_actions=actions)


def source_digest(root: Path) -> str:
    """SHA-256 over every source file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    real_root = root.resolve()
    for path in sorted(p for p in root.rglob("*.json") if p.is_file() and outside(p, real_root) is None):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _not_a_policy_dir(root: Path) -> CompileIssue | None:
    """Item 5 of issue 10: a wrong path says what it is and what to pass instead."""
    message, hint = "", ""
    if not root.exists():
        message = "does not exist"
        if root.is_symlink():
            message = f"is a link to `{root.resolve()}`, which does not exist"
    elif not root.is_dir():
        message, hint = "is not a directory", "pass the folder that holds one folder per local tenant"
    elif (root / TENANT_FILE).is_file():
        parent = root.resolve().parent
        message = f"is a tenant folder (it holds {TENANT_FILE}), not a policy folder"
        hint = f"pass its parent `{parent}`, which holds one folder per local tenant"
    if not message:
        return None
    return CompileIssue(file=str(root), path="$", message=message, code=IssueCode.UNREADABLE_FILE, hint=hint)


def parse_policy_dir(
    root: Path, progress: Callable[[str, int, int], None] | None = None
) -> tuple[PolicySource | None, list[CompileIssue]]:
    """Parse every tenant folder below ``root``. Returns the source (None when unusable) and all issues.

    ``progress("parse", partners read, 0)`` is called now and then (see xtenant_pdp/progress.py).
    """
    issues: list[CompileIssue] = []
    unknown: list[Loc] = []
    partners_at: dict[tuple[str, str], tuple[str, str]] = {}
    if (problem := _not_a_policy_dir(root)) is not None:
        issues.append(problem)
        return None, issues
    real_root = root.resolve()
    catalog = None
    catalog_path = root / CATALOG_FILE
    if catalog_path.exists() or catalog_path.is_symlink():
        ok, document = load_json(catalog_path, CATALOG_FILE, issues, real_root)
        if ok:
            catalog = GraphParser(CATALOG_FILE, issues, unknown).catalog(document)
    else:
        catalog = default_catalog()
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    tenants = []
    for folder in folders:
        if (real := outside(folder, real_root)) is not None:
            issues.append(
                CompileIssue(
                    file=folder.name,
                    path="$",
                    message=f"is a link to `{real}`, outside the policy folder",
                    code=IssueCode.LINK_OUTSIDE_POLICY,
                    hint="copy the folder in: links may only point inside the policy folder",
                )
            )
            continue
        if len(issues) >= MAX_ISSUES:
            issues.append(
                CompileIssue(
                    file=str(root),
                    path="$",
                    message=f"stopped after {MAX_ISSUES} issues; later tenant folders were not read",
                    code=IssueCode.TOO_MANY_ISSUES,
                    hint="fix the errors above and run again",
                )
            )
            break
        read_before = sum(len(t.partners) for t in tenants)
        tick = None if progress is None else (lambda i, before=read_before: progress("parse", before + i, 0))
        tenant = _parse_tenant_folder(folder, root, issues, unknown, partners_at, tick)
        if tenant is not None:
            tenants.append(tenant)
    if not folders:
        issues.append(
            CompileIssue(
                file=str(root),
                path="$",
                message="holds no tenant folder",
                code=IssueCode.MISSING_FIELD,
                hint="put each local tenant's tenant.json and Graph exports in a folder of its own",
            )
        )
    for loc in unknown:
        issues.append(
            CompileIssue(
                file=loc.file,
                path=loc.path,
                message="unknown property ignored",
                code=IssueCode.UNKNOWN_PROPERTY,
                severity=Severity.INFO,
            )
        )
    if catalog is None:
        return None, issues
    return (
        PolicySource(tenants=tuple(tenants), catalog=catalog, digest=source_digest(root), partners_at=partners_at),
        issues,
    )
