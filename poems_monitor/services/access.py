"""Who may do what: roles, permissions, and the acting user every write service receives.

Owns the permission table. Services call `require()` before they write, so a role is refused in
the services themselves and not only by a greyed-out button.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from poems_monitor.i18n import N_, tr


class Role(str, Enum):
    NURSE = "nurse"
    PHYSICIAN = "physician"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        """The role as the user's language says it (the code stays in the database and the audit trail)."""
        return tr(_ROLE_WORDS[self.value])


_ROLE_WORDS = {"nurse": N_("nurse"), "physician": N_("physician"), "admin": N_("admin")}


class Permission(str, Enum):
    RECORD = "record"  # enter and correct patients, visits, treatments, events; import data
    REVIEW = "review"  # acknowledge flags, sign off visits
    WAIVE = "waive"  # waive a follow-up item
    EDIT_PROTOCOL = "edit_protocol"
    MANAGE_USERS = "manage_users"
    BACKUP = "backup"
    RESTORE = "restore"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.NURSE: frozenset({Permission.RECORD}),
    Role.PHYSICIAN: frozenset({Permission.RECORD, Permission.REVIEW, Permission.WAIVE, Permission.EDIT_PROTOCOL}),
    Role.ADMIN: frozenset(Permission),
}

_ACTION_WORDS = {
    Permission.RECORD: N_("enter or correct clinical data"),
    Permission.REVIEW: N_("acknowledge flags or sign off visits"),
    Permission.WAIVE: N_("waive follow-up items"),
    Permission.EDIT_PROTOCOL: N_("change the clinic protocol"),
    Permission.MANAGE_USERS: N_("manage user accounts"),
    Permission.BACKUP: N_("make backups"),
    Permission.RESTORE: N_("restore a backup"),
}


class PermissionDenied(Exception):
    """A write refused for the acting user's role; the message names the user, role and action."""


@dataclass(frozen=True)
class Actor:
    """The signed-in person (or command-line user) on whose behalf a service acts."""

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def require(actor: Actor, permission: Permission) -> None:
    if not actor.may(permission):
        raise PermissionDenied(
            tr("{user} ({role}) may not {action}").format(
                user=actor.name, role=actor.role.label, action=tr(_ACTION_WORDS[permission])
            )
        )
