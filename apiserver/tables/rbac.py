"""Printers for rbac.authorization.k8s.io/v1 bindings (ROLE, AGE; wide USERS, GROUPS,
SERVICEACCOUNTS). Roles and cluster roles have no printer upstream: they get the default table
(NAME, CREATED AT)."""

from __future__ import annotations

from datetime import datetime

from .cells import AGE, NAME, Cells, Column, Obj, Printer, age, doc, items, name, text


def subjects(binding: Obj) -> tuple[str, str, str]:
    """`rbac.SubjectsStrings`: users, groups and "namespace/name" service accounts, ", "-joined."""
    users, groups, service_accounts = [], [], []
    for subject in items(binding, "subjects"):
        kind = text(subject, "kind")
        if kind == "ServiceAccount":
            service_accounts.append(f"{text(subject, 'namespace')}/{text(subject, 'name')}")
        elif kind == "User":
            users.append(text(subject, "name"))
        elif kind == "Group":
            groups.append(text(subject, "name"))
    return ", ".join(users), ", ".join(groups), ", ".join(service_accounts)


def _bindings(binding: Obj, now: datetime) -> Cells:
    role = f"{text(binding, 'roleRef', 'kind')}/{text(binding, 'roleRef', 'name')}"
    return [name(binding), role, age(binding, now), *subjects(binding)]


def _binding_printer(kind: str, noun: str) -> Printer:
    return Printer(
        (
            NAME,
            Column("Role", description=doc(f"rbac.v1.{kind}", "roleRef")),
            AGE,
            Column("Users", priority=1, description=f"Users in the {noun}"),
            Column("Groups", priority=1, description=f"Groups in the {noun}"),
            Column("ServiceAccounts", priority=1, description=f"ServiceAccounts in the {noun}"),
        ),
        _bindings,
    )


PRINTERS = {
    "rolebindings": _binding_printer("RoleBinding", "roleBinding"),
    "clusterrolebindings": _binding_printer("ClusterRoleBinding", "clusterRoleBinding"),
}
