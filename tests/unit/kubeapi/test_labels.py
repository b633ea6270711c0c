"""Label selectors parse, print and match as apimachinery's pkg/labels does (cases from its
selector_test.go), and fail with its messages."""

from __future__ import annotations

import time

import pytest

from kubeapi import labels
from kubeapi.errors import StatusError
from kubeapi.labels import Operator, Requirement, Selector

VALUE_REGEX_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
KEY_NAME_MESSAGE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        pytest.param("x=a,y=b,z=c", "x=a,y=b,z=c", id="equality terms print as written"),
        pytest.param("", "", id="the empty selector prints as nothing"),
        pytest.param("x!=a,y=b", "x!=a,y=b", id="inequality keeps its operator"),
        pytest.param("x=", "x=", id="an empty value is allowed"),
        pytest.param("x= ,z= ", "x=,z=", id="whitespace after operators is dropped"),
        pytest.param("!x", "!x", id="does-not-exist"),
        pytest.param("x>1,z<5", "x>1,z<5", id="greater and less than"),
        pytest.param("x==a", "x==a", id="double equals stays double"),
        pytest.param("z=1,a=2", "a=2,z=1", id="terms sort by key"),
        pytest.param("x in (c,a,b,a)", "x in (a,b,c)", id="set values are sorted and unique"),
        pytest.param("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()", id="empty set items"),
        pytest.param("x in (abc,)", "x in (,abc)", id="a trailing comma adds the empty value"),
        pytest.param("x notin (, a)", "x notin (,a)", id="a leading comma adds the empty value"),
        pytest.param("\rx", "x", id="carriage return is whitespace"),
        pytest.param("foo  in\t (abc)", "foo in (abc)", id="tabs and spaces around in"),
        pytest.param("x notin\n (abc)", "x notin (abc)", id="newline before the value set"),
        pytest.param(
            "a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)", id="keywords are plain values in a set"
        ),
        pytest.param("notin=in", "notin=in", id="keywords are plain keys and values around ="),
        pytest.param(
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
            id="a prefixed key with dotted values",
        ),
        pytest.param("a=b \x00junk", "a=b", id="a NUL where a token starts ends the input as in Go"),
        pytest.param("a=\x00b", "a=b", id="a NUL right after a symbol is swallowed as in Go"),
    ],
)
def test_a_selector_prints_in_canonical_form(text: str, printed: str) -> None:
    assert str(labels.parse(text)) == printed


@pytest.mark.parametrize(
    ("text", "label_set", "expected"),
    [
        pytest.param("", {"x": "y"}, True, id="the empty selector matches anything"),
        pytest.param("x=y", {"x": "y"}, True, id="equality matches the same value"),
        pytest.param("x=y,z=w", {"x": "y", "z": "w"}, True, id="all terms must hold"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "a"}, True, id="inequality matches other values"),
        pytest.param("notin=in", {"notin": "in"}, True, id="keyword-looking keys match"),
        pytest.param("x", {"x": "z"}, True, id="exists matches any value"),
        pytest.param("!x", {"y": "z"}, True, id="does-not-exist matches an absent key"),
        pytest.param("x>1", {"x": "2"}, True, id="greater than compares integers"),
        pytest.param("x<1", {"x": "0"}, True, id="less than compares integers"),
        pytest.param("x=z", {}, False, id="equality needs the key"),
        pytest.param("x=y", {"x": "z"}, False, id="equality needs the same value"),
        pytest.param("x=y,z=w", {"x": "w", "z": "w"}, False, id="one failing term fails the selector"),
        pytest.param("x!=y,z!=w", {"x": "z", "z": "w"}, False, id="inequality fails on the same value"),
        pytest.param("x", {"y": "z"}, False, id="exists fails on an absent key"),
        pytest.param("!x", {"x": "z"}, False, id="does-not-exist fails on a present key"),
        pytest.param("x>1", {"x": "0"}, False, id="greater than fails on smaller"),
        pytest.param("x<1", {"x": "2"}, False, id="less than fails on larger"),
        pytest.param("x>1", {"x": "v2"}, False, id="greater than fails on a non-integer label"),
        pytest.param("x>1", {}, False, id="greater than fails on an absent key"),
        pytest.param("x!=y", {}, True, id="inequality matches an absent key"),
        pytest.param("x notin (a)", {}, True, id="notin matches an absent key"),
        pytest.param("x in ()", {"x": ""}, True, id="the empty value set holds the empty value"),
        pytest.param("x in ()", {"y": "baz"}, False, id="in fails on an absent key"),
        pytest.param("x notin ()", {"y": ""}, True, id="notin the empty value with the key absent"),
        pytest.param("x,y in (a)", {"x": "1", "y": "a"}, True, id="exists and in together"),
    ],
)
def test_selectors_match_labels_like_upstream(text: str, label_set: dict[str, str], expected: bool) -> None:
    assert labels.parse(text).matches(label_set) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "x=a||y=b",
            f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {VALUE_REGEX_MESSAGE}',
            id="a value with bars is not a label value",
        ),
        pytest.param("x==a==b", "found '==', expected: ',' or 'end of string'", id="a second operator"),
        pytest.param(
            "!x=a", "found '=', expected: ',' or 'end of string'", id="does-not-exist takes no value"
        ),
        pytest.param(
            "x<a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
            id="less than needs an integer",
        ),
    ],
)
def test_upstream_bad_selectors_fail_with_its_messages(text: str, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        labels.parse(text)
    assert (raised.value.code, raised.value.reason, raised.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("(", "found '(', expected: !, identifier, or 'end of string'", id="an open paren first"),
        pytest.param(",x,y", "found ',', expected: !, identifier, or 'end of string'", id="a leading comma"),
        pytest.param("a in (xyz),", "found '', expected: identifier after ','", id="a trailing comma"),
        pytest.param("a=b,,c", "found ',', expected: identifier after ','", id="two commas"),
        pytest.param(
            "a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'", id="a missing comma"
        ),
        pytest.param("a in", "unable to parse requirement: found '' expected: '('", id="in without a set"),
        pytest.param(
            "a in b", "unable to parse requirement: found 'b' expected: '('", id="in without parens"
        ),
        pytest.param(
            "a notin(",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
            id="an unclosed set",
        ),
        pytest.param(
            "a in (xyz abc)",
            "unable to parse requirement: found 'abc', expected: ',' or ')'",
            id="no comma in a set",
        ),
        pytest.param(
            "a in (x", "unable to parse requirement: found '', expected: ',' or ')'", id="a set cut short"
        ),
        pytest.param(
            "a (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
            id="a paren where the operator goes",
        ),
        pytest.param(
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
            id="a misspelt operator",
        ),
        pytest.param(
            "a=(", "unable to parse requirement: found '(', expected: identifier", id="a paren as a value"
        ),
        pytest.param("!", "unable to parse requirement: found '', expected: identifier", id="a bang alone"),
        pytest.param(
            "a@b=c",
            f'unable to parse requirement: <nil>: Invalid value: "a@b": {KEY_NAME_MESSAGE}',
            id="a bad key is reported with Go's nil field path",
        ),
        pytest.param(
            "a.b/=c",
            'unable to parse requirement: <nil>: Invalid value: "a.b/": name part must be non-empty; '
            + KEY_NAME_MESSAGE,
            id="key problems are joined with semicolons",
        ),
        pytest.param(
            "k=-bad",
            f'unable to parse requirement: values[0][k]: Invalid value: "-bad": {VALUE_REGEX_MESSAGE}',
            id="a bad value names its index and key",
        ),
        pytest.param(
            "x<-1",
            f'unable to parse requirement: values[0][x]: Invalid value: "-1": {VALUE_REGEX_MESSAGE}',
            id="a negative bound is no label value",
        ),
    ],
)
def test_malformed_selectors_are_bad_requests_with_upstream_messages(text: str, message: str) -> None:
    with pytest.raises(StatusError) as raised:
        labels.parse(text)
    assert (raised.value.code, raised.value.message) == (400, message)


def test_a_selector_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "a" * (labels.MAX_SELECTOR_BYTES + 1)
    with pytest.raises(StatusError) as raised:
        labels.parse(text)
    assert raised.value.code == 400
    assert raised.value.message == "label selector is too long: 65537 bytes, the limit is 65536"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a in (" + ",".join(f"v{i}" for i in range(9000)) + ")", id="a long value set"),
        pytest.param(",".join(f"k{i}=v" for i in range(8000)), id="many terms"),
        pytest.param("a" + "-" * 65000 + "=b", id="a huge invalid key"),
        pytest.param("k=a" + "-" * 65000 + "!", id="a huge invalid value"),
        pytest.param("a in (" + "," * 65000 + ")", id="a set of nothing but commas"),
    ],
)
def test_the_largest_selectors_parse_or_fail_quickly(text: str) -> None:
    assert len(text.encode()) <= labels.MAX_SELECTOR_BYTES
    started = time.perf_counter()
    try:
        labels.parse(text)
    except StatusError as err:
        assert err.code == 400
    assert time.perf_counter() - started < 2.0


def test_label_selector_none_matches_nothing_and_empty_matches_everything() -> None:
    nothing = labels.from_label_selector(None)
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert not nothing.empty and str(nothing) == ""
    everything = labels.from_label_selector({})
    assert everything.matches({}) and everything.matches({"a": "b"}) and everything.empty
    assert labels.from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty


def test_label_selector_combines_match_labels_and_expressions() -> None:
    selector = labels.from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                {"key": "team", "operator": "Exists", "values": []},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env notin (dev),team,tier in (edge,front)"
    assert selector.matches({"app": "web", "tier": "edge", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "edge", "team": "x", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "edge", "team": "x", "env": "dev"})
    assert not selector.matches({"app": "web", "tier": "back", "team": "x"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]},
            '"Equals" is not a valid label selector operator',
            id="an operator the API does not have",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty",
            id="in without values",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]},
            'values: Invalid value: []string{"b"}: values set must be empty for exists and does not exist',
            id="exists with values",
        ),
        pytest.param(
            {"matchLabels": {"bad key": "v"}},
            f'key: Invalid value: "bad key": {KEY_NAME_MESSAGE}',
            id="a bad key in matchLabels",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "Bad/x", "operator": "In", "values": ["-v"]}]},
            '[key: Invalid value: "Bad/x": prefix part a lowercase RFC 1123 subdomain must consist of lower '
            "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), "
            f'values[0][Bad/x]: Invalid value: "-v": {VALUE_REGEX_MESSAGE}]',
            id="several problems are aggregated in brackets",
        ),
    ],
)
def test_invalid_label_selectors_are_bad_requests(obj: dict[str, object], message: str) -> None:
    with pytest.raises(StatusError) as raised:
        labels.from_label_selector(obj)
    assert (raised.value.code, raised.value.message) == (400, message)


def test_a_set_selector_matches_exactly_its_labels_without_validation() -> None:
    selector = labels.from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert not selector.matches({"a": "1"})
    assert labels.from_set({}).empty
    assert labels.from_set({"not a key": "!"}).matches({"not a key": "!"})


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        pytest.param("a=1,b=2", "b", "2", id="equality demands its value"),
        pytest.param("a==1", "a", "1", id="double equality demands its value"),
        pytest.param("a in (1)", "a", "1", id="a one-value set demands its value"),
        pytest.param("a in (1,2)", "a", None, id="a two-value set demands nothing"),
        pytest.param("a!=1", "a", None, id="inequality demands nothing"),
        pytest.param("b=1", "a", None, id="another key demands nothing"),
    ],
)
def test_requires_exact_match_reports_the_single_required_value(
    text: str, key: str, expected: str | None
) -> None:
    assert labels.parse(text).requires_exact_match(key) == expected


def test_selectors_are_immutable_values() -> None:
    first, second = labels.parse("a=1,b in (x,y)"), labels.parse("b in (y,x),a=1")
    assert first == second and hash(first) == hash(second)
    assert first.requirements[0] == Requirement("a", Operator.EQUALS, ("1",))
    with pytest.raises(AttributeError):
        first.requirements = ()  # type: ignore[misc]
    assert Selector.everything().empty and not Selector.nothing().empty
