"""serviceaccount-controller (upstream pkg/controller/serviceaccount, ServiceAccountsController): every
active namespace has a `default` ServiceAccount, so pods that name none can be admitted. The queue's keys
are namespace names: a namespace added or updated, or a ServiceAccount deleted, puts its namespace on the
queue, and reconcile creates whatever account is missing. Namespaces that are not Active (being deleted)
are left alone: the apiserver would refuse the create anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, Obj, QueueController
from kubeclient.errors import ApiError, is_already_exists

log = get_logger(__name__)

DEFAULT_SERVICE_ACCOUNTS = ("default",)
"""The accounts ensured in every namespace (upstream DefaultServiceAccountsControllerOptions)."""


def namespace_active(namespace: Mapping[str, Any]) -> bool:
    """Only an Active namespace gets accounts; a Terminating one refuses new content."""
    return bool((namespace.get("status") or {}).get("phase") == "Active")


def missing_service_accounts(wanted: Iterable[str], existing: Iterable[str]) -> list[str]:
    """The wanted account names that do not exist yet, in the wanted order."""
    have = set(existing)
    return [name for name in wanted if name not in have]


def service_account(namespace: str, name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def namespace_terminating(error: BaseException) -> bool:
    """The apiserver refused a create because the namespace is being deleted (cause NamespaceTerminating):
    nothing to retry, the namespace controller is emptying it."""
    if not isinstance(error, ApiError):
        return False
    causes = (error.status.get("details") or {}).get("causes") or ()
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)


class ServiceAccountsController(QueueController):
    name = "serviceaccount-controller"

    def __init__(self, ctx: ControllerContext, accounts: Sequence[str] = DEFAULT_SERVICE_ACCOUNTS) -> None:
        super().__init__(ctx)
        self.accounts = tuple(accounts)
        self.namespaces = ctx.informers.informer("namespaces")
        self.service_accounts = ctx.informers.informer("serviceaccounts")
        self.namespaces.add_handler(self.enqueue, self.enqueue_update)
        self.service_accounts.add_handler(on_delete=self.service_account_deleted)

    def service_account_deleted(self, account: Obj) -> None:
        """A deleted account may be one we ensure: look at its namespace again."""
        namespace = (account.get("metadata") or {}).get("namespace")
        if namespace:
            self.queue.add(namespace)

    async def reconcile(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        if namespace is None or not namespace_active(namespace):
            return
        existing = (
            str((account.get("metadata") or {}).get("name", ""))
            for account in self.service_accounts.store.by_index("namespace", key)
        )
        failures: list[Exception] = []
        for name in missing_service_accounts(self.accounts, existing):
            try:
                await self.client.create("serviceaccounts", service_account(key, name), namespace=key)
                log.v(2).info("Created service account", serviceaccount=f"{key}/{name}")
            except ApiError as error:
                if not (is_already_exists(error) or namespace_terminating(error)):
                    failures.append(error)
        if failures:
            raise failures[0]


def new(ctx: ControllerContext) -> ServiceAccountsController:
    return ServiceAccountsController(ctx)
