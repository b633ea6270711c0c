"""Name and key formats report upstream's exact messages, and object metadata is validated into the
causes kube-apiserver puts in a 422."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kubeapi import errors
from kubeapi.errors import Cause
from kubeapi.validation import go_quote, go_value
from kubeapi.validation import names as n

DNS_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
C_IDENTIFIER_MESSAGE = (
    "a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric "
    "characters or '_' (e.g. 'my_name',  or 'MY_NAME',  or 'MyName', regex used for validation is "
    "'[A-Za-z_][A-Za-z0-9_]*')"
)
ENV_VAR_MESSAGE = (
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and "
    "must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for "
    "validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')"
)
RELAXED_ENV_VAR_MESSAGE = (
    "a valid environment variable name must consist only of printable ASCII characters other than '='"
)
CONFIG_KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
    "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)

Check = Callable[[str], list[str]]


@pytest.mark.parametrize(
    ("check", "value", "problems"),
    [
        pytest.param(n.is_dns1123_label, "my-name", [], id="a DNS label"),
        pytest.param(n.is_dns1123_label, "123-abc", [], id="a DNS label may start with a digit"),
        pytest.param(n.is_dns1123_label, "My_Name", [DNS_LABEL_MESSAGE], id="upper case and underscore"),
        pytest.param(n.is_dns1123_label, "my.name", ["must not contain dots"], id="a subdomain is no label"),
        pytest.param(n.is_dns1123_label, "-a", [DNS_LABEL_MESSAGE], id="a leading dash"),
        pytest.param(n.is_dns1123_label, "", [DNS_LABEL_MESSAGE], id="an empty label"),
        pytest.param(n.is_dns1123_label, "a" * 63, [], id="63 characters are fine"),
        pytest.param(
            n.is_dns1123_label,
            "a" * 64,
            ["must be no more than 63 characters"],
            id="64 characters are too many",
        ),
        pytest.param(n.is_dns1123_label, "a\n", [DNS_LABEL_MESSAGE], id="a trailing newline is not ignored"),
        pytest.param(n.is_dns1123_subdomain, "example.com", [], id="a subdomain"),
        pytest.param(
            n.is_dns1123_subdomain, "Example.com", [DNS_SUBDOMAIN_MESSAGE], id="upper case in a subdomain"
        ),
        pytest.param(n.is_dns1123_subdomain, "a..b", [DNS_SUBDOMAIN_MESSAGE], id="an empty subdomain label"),
        pytest.param(
            n.is_dns1123_subdomain,
            "a" * 254,
            ["must be no more than 253 characters"],
            id="a subdomain over 253 characters",
        ),
        pytest.param(n.is_dns1035_label, "abc-123", [], id="a DNS-1035 label"),
        pytest.param(n.is_dns1035_label, "1abc", [DNS1035_MESSAGE], id="DNS-1035 labels start with a letter"),
        pytest.param(n.is_qualified_name, "example.com/MyName", [], id="a prefixed qualified name"),
        pytest.param(n.is_qualified_name, "my.name", [], id="an unprefixed qualified name"),
        pytest.param(n.is_qualified_name, "/a", ["prefix part must be non-empty"], id="an empty prefix"),
        pytest.param(
            n.is_qualified_name,
            "a/",
            ["name part must be non-empty", "name part " + NAME_PART_MESSAGE],
            id="an empty name",
        ),
        pytest.param(
            n.is_qualified_name,
            "Example.com/a",
            ["prefix part " + DNS_SUBDOMAIN_MESSAGE],
            id="the prefix is a lower case subdomain",
        ),
        pytest.param(
            n.is_qualified_name,
            "a/b/c",
            [
                "a qualified name "
                + NAME_PART_MESSAGE[:-1]
                + ") with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"
            ],
            id="two slashes",
        ),
        pytest.param(
            n.is_qualified_name,
            "a" * 64,
            ["name part must be no more than 63 characters"],
            id="a long name part",
        ),
        pytest.param(n.is_valid_label_value, "", [], id="the empty label value"),
        pytest.param(n.is_valid_label_value, "My_value.1", [], id="a label value"),
        pytest.param(
            n.is_valid_label_value, "-x", [LABEL_VALUE_MESSAGE], id="a label value starting with a dash"
        ),
        pytest.param(
            n.is_valid_label_value,
            "é" * 32,
            ["must be no more than 63 characters", LABEL_VALUE_MESSAGE],
            id="lengths count UTF-8 bytes like Go",
        ),
        pytest.param(n.is_c_identifier, "_my_name1", [], id="a C identifier"),
        pytest.param(n.is_c_identifier, "my-name", [C_IDENTIFIER_MESSAGE], id="no dashes in C identifiers"),
        pytest.param(n.is_env_var_name, "my.env-name", [], id="an env var name with dot and dash"),
        pytest.param(
            n.is_env_var_name, "1ABC", [ENV_VAR_MESSAGE], id="env var names do not start with a digit"
        ),
        pytest.param(n.is_env_var_name, "..", ["must not be '..'"], id="env var name .."),
        pytest.param(
            n.is_env_var_name, "..a", ["must not start with '..'"], id="env var name starting with .."
        ),
        pytest.param(n.is_relaxed_env_var_name, "1 a:b", [], id="relaxed env var names take printable ASCII"),
        pytest.param(
            n.is_relaxed_env_var_name,
            "a=b",
            [RELAXED_ENV_VAR_MESSAGE],
            id="relaxed env var names refuse equals",
        ),
        pytest.param(
            n.is_relaxed_env_var_name,
            "",
            ["environment variable name must be non-empty"],
            id="an empty env var name",
        ),
        pytest.param(n.is_config_map_key, "key.name", [], id="a config key"),
        pytest.param(n.is_config_map_key, "a/b", [CONFIG_KEY_MESSAGE], id="no slashes in config keys"),
        pytest.param(n.is_config_map_key, ".", ["must not be '.'"], id="the config key ."),
    ],
)
def test_formats_report_upstreams_messages(check: Check, value: str, problems: list[str]) -> None:
    assert check(value) == problems


@pytest.mark.parametrize(
    ("validator", "name", "prefix", "problems"),
    [
        pytest.param(n.name_is_dns_subdomain, "web-", True, [], id="a generateName prefix may end in a dash"),
        pytest.param(n.name_is_dns_subdomain, "web-", False, [DNS_SUBDOMAIN_MESSAGE], id="a name may not"),
        pytest.param(
            n.name_is_dns_label, "a.b-", True, ["must not contain dots"], id="a label prefix has no dots"
        ),
        pytest.param(n.name_is_dns1035_label, "svc-", True, [], id="a service prefix"),
        pytest.param(n.validate_path_segment_name, "..", False, ["may not be '..'"], id="dot dot as a name"),
        pytest.param(n.validate_path_segment_name, "..", True, [], id="dot dot as a prefix"),
        pytest.param(
            n.validate_path_segment_name,
            "a/b%c",
            False,
            ["may not contain '/'", "may not contain '%'"],
            id="slash and percent",
        ),
        pytest.param(
            n.validate_path_segment_name, "Any_Name:1", False, [], id="anything else is a path segment"
        ),
    ],
)
def test_name_validators_treat_generate_name_prefixes(
    validator: n.NameValidator, name: str, prefix: bool, problems: list[str]
) -> None:
    assert validator(name, prefix) == problems


def causes_of(meta: dict[str, Any], namespaced: bool = True) -> list[tuple[str, str, str]]:
    return [
        (c.type, c.field, c.message)
        for c in n.validate_object_meta(meta, namespaced, n.name_is_dns_subdomain)
    ]


@pytest.mark.parametrize(
    ("meta", "namespaced", "expected"),
    [
        pytest.param(
            {"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"a": "b"}},
            True,
            [],
            id="valid metadata has no causes",
        ),
        pytest.param(
            {"namespace": "default"},
            True,
            [("FieldValueRequired", "metadata.name", "Required value: name or generateName is required")],
            id="a name is required",
        ),
        pytest.param(
            {"generateName": "web-", "namespace": "default"}, True, [], id="generateName alone will do"
        ),
        pytest.param(
            {"generateName": "Web-", "namespace": "default"},
            True,
            [
                (
                    "FieldValueInvalid",
                    "metadata.generateName",
                    'Invalid value: "Web-": ' + DNS_SUBDOMAIN_MESSAGE,
                )
            ],
            id="generateName is checked as a prefix",
        ),
        pytest.param(
            {"name": "Web", "namespace": "default"},
            True,
            [("FieldValueInvalid", "metadata.name", 'Invalid value: "Web": ' + DNS_SUBDOMAIN_MESSAGE)],
            id="the name follows the resource's rule",
        ),
        pytest.param(
            {"name": "web"},
            True,
            [("FieldValueRequired", "metadata.namespace", "Required value")],
            id="namespaced objects need a namespace",
        ),
        pytest.param(
            {"name": "web", "namespace": "a.b"},
            True,
            [("FieldValueInvalid", "metadata.namespace", 'Invalid value: "a.b": must not contain dots')],
            id="namespaces are DNS labels",
        ),
        pytest.param(
            {"name": "node-1", "namespace": "default"},
            False,
            [("FieldValueForbidden", "metadata.namespace", "Forbidden: not allowed on this type")],
            id="cluster-scoped objects take no namespace",
        ),
        pytest.param(
            {"name": "web", "namespace": "d", "generation": -1},
            True,
            [
                (
                    "FieldValueInvalid",
                    "metadata.generation",
                    "Invalid value: -1: must be greater than or equal to 0",
                )
            ],
            id="a negative generation",
        ),
        pytest.param(
            {"name": "web", "namespace": "d", "labels": {"b/": "ok", "a": "-bad"}},
            True,
            [
                ("FieldValueInvalid", "metadata.labels", 'Invalid value: "-bad": ' + LABEL_VALUE_MESSAGE),
                ("FieldValueInvalid", "metadata.labels", 'Invalid value: "b/": name part must be non-empty'),
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    'Invalid value: "b/": name part ' + NAME_PART_MESSAGE,
                ),
            ],
            id="label keys and values, in key order",
        ),
        pytest.param(
            {"name": "web", "namespace": "d", "annotations": {"Example.COM/Key": "v", "bad key": "v"}},
            True,
            [
                (
                    "FieldValueInvalid",
                    "metadata.annotations",
                    'Invalid value: "bad key": name part ' + NAME_PART_MESSAGE,
                )
            ],
            id="annotation keys ignore case but not spaces",
        ),
        pytest.param(
            {"name": "web", "namespace": "d", "annotations": {"a": "x" * (256 * 1024)}},
            True,
            [("FieldValueTooLong", "metadata.annotations", "Too long: may not be more than 262144 bytes")],
            id="annotations over 256 KiB in total",
        ),
        pytest.param(
            {"name": "web", "namespace": "d", "annotations": {"a": "x" * (256 * 1024 - 1)}},
            True,
            [],
            id="annotations of exactly 256 KiB",
        ),
        pytest.param(
            {
                "name": "web",
                "namespace": "d",
                "finalizers": ["orphan", "foregroundDeletion", "bad finalizer"],
            },
            True,
            [
                (
                    "FieldValueInvalid",
                    "metadata.finalizers",
                    'Invalid value: "bad finalizer": name part ' + NAME_PART_MESSAGE,
                ),
                (
                    "FieldValueInvalid",
                    "metadata.finalizers",
                    'Invalid value: []string{"orphan", "foregroundDeletion", "bad finalizer"}: '
                    "finalizer orphan and foregroundDeletion cannot be both set",
                ),
            ],
            id="finalizers are qualified names and orphan excludes foreground deletion",
        ),
    ],
)
def test_object_meta_is_validated_into_upstream_causes(
    meta: dict[str, Any], namespaced: bool, expected: list[tuple[str, str, str]]
) -> None:
    assert causes_of(meta, namespaced) == expected


def test_metadata_causes_make_a_422_like_kube_apiserver() -> None:
    causes = n.validate_object_meta({"name": "Web"}, True, n.name_is_dns_subdomain)
    status = errors.invalid("Pod", "Web", causes).to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "Web": ' + DNS_SUBDOMAIN_MESSAGE,
            "field": "metadata.name",
        },
        {"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.namespace"},
    ]
    assert causes[0] == Cause(
        "FieldValueInvalid", 'Invalid value: "Web": ' + DNS_SUBDOMAIN_MESSAGE, "metadata.name"
    )


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        pytest.param("plain", '"plain"', id="a plain string"),
        pytest.param('q"b\\', '"q\\"b\\\\"', id="quotes and backslashes"),
        pytest.param("\n\t\x00\x7f", '"\\n\\t\\x00\\x7f"', id="control characters"),
        pytest.param("é\u200b", '"é\\u200b"', id="printable unicode kept, invisible escaped"),
    ],
)
def test_strings_are_quoted_like_go(value: str, printed: str) -> None:
    assert go_quote(value) == printed


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        pytest.param(None, "null", id="nil"),
        pytest.param(True, "true", id="a bool"),
        pytest.param(-3, "-3", id="an int"),
        pytest.param([], "[]string{}", id="an empty slice"),
        pytest.param(["a", "b"], '[]string{"a", "b"}', id="a slice"),
    ],
)
def test_bad_values_print_like_go(value: object, printed: str) -> None:
    assert go_value(value) == printed
