"""Reading the configMaps and secrets that volumes and environment variables refer to.

`ObjectGetter` is the seam (kubeclient.rest.Client fits). A missing object is None, so callers can
honour `optional`; anything else raises `SourceUnavailable` with the error's text. The "not found"
messages are the kubelet's own (its object managers say `configmap "x" not found`, not the
apiserver's `configmaps "x" not found`).
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeapi.validation import go_quote
from kubeclient.errors import is_not_found

Obj = dict[str, Any]


class ObjectGetter(Protocol):
    async def get(
        self, resource: str, name: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> Obj: ...


class SourceUnavailable(Exception):
    pass


def not_found_message(kind: str, name: str) -> str:
    """kind is "configmap" or "secret"."""
    return f"{kind} {go_quote(name)} not found"


async def get_object(getter: ObjectGetter, resource: str, namespace: str, name: str) -> Obj | None:
    try:
        return await getter.get(resource, name, namespace=namespace)
    except Exception as error:
        if is_not_found(error):
            return None
        raise SourceUnavailable(str(error) or repr(error)) from error


async def get_config_map(getter: ObjectGetter, namespace: str, name: str) -> Obj | None:
    return await get_object(getter, "configmaps", namespace, name)


async def get_secret(getter: ObjectGetter, namespace: str, name: str) -> Obj | None:
    return await get_object(getter, "secrets", namespace, name)
