"""The informer's indexed store and the query parameters the client sends."""

from __future__ import annotations

from kubeclient.informer import Store, namespace_index, object_key
from kubeclient.rest import _options, resolve, resource_path


def obj(name: str, namespace: str | None = None, **labels: str) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


def test_keys_are_namespace_slash_name_or_just_the_name() -> None:
    assert object_key(obj("web", "default")) == "default/web"
    assert object_key(obj("node-1")) == "node-1"


def test_the_namespace_index_follows_puts_and_removes() -> None:
    store = Store({"namespace": namespace_index})
    store.put(obj("a", "x"))
    store.put(obj("b", "x"))
    store.put(obj("c", "y"))
    assert sorted(o["metadata"]["name"] for o in store.by_index("namespace", "x")) == ["a", "b"]  # type: ignore[index]
    store.remove("x/a")
    assert [o["metadata"]["name"] for o in store.by_index("namespace", "x")] == ["b"]  # type: ignore[index]
    assert "x/a" not in store and len(store) == 2


def test_a_put_replaces_and_returns_the_old_object() -> None:
    store = Store()
    first = obj("a", "x")
    store.put(first)
    assert store.put(obj("a", "x", v="2")) is first


def test_resources_resolve_to_their_group_paths() -> None:
    assert (
        resource_path(resolve("pods"), "default", "web", "binding")
        == "/api/v1/namespaces/default/pods/web/binding"
    )
    assert resource_path(resolve("leases.coordination.k8s.io"), "kube-system") == (
        "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
    )
    assert resource_path(resolve("nodes"), "ignored-for-cluster-scope", "n1") == "/api/v1/nodes/n1"
    assert resolve("events.events.k8s.io").group == "events.k8s.io"
    assert resolve("events").group == ""


def test_python_option_names_become_query_parameters() -> None:
    assert _options({"label_selector": "a=b", "continue_": "tok", "resource_version": None, "limit": 5}) == {
        "labelSelector": "a=b",
        "continue": "tok",
        "limit": 5,
    }
