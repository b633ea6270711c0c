"""Label selectors as apimachinery's pkg/labels has them: the `?labelSelector=` string syntax that
kubectl and client-go send, and the `metav1.LabelSelector` objects in Deployments, ReplicaSets,
DaemonSets, Jobs and PodDisruptionBudgets (Services and ReplicationControllers select with plain
maps: `from_set`).

    parse("app=web,tier in (a,b),!canary")   -> Selector
    from_label_selector({"matchLabels": {...}, "matchExpressions": [...]})
    from_label_selector(None)                  -> matches nothing (upstream: a nil selector)
    from_label_selector({})                    -> matches everything
    from_set({"app": "web"})                   -> exact-match selector, no validation (SelectorFromSet)

Syntax errors and invalid keys or values raise `errors.bad_request` with upstream's message
("unable to parse requirement: ...", "found '(', expected: identifier", ...). The parser is one
linear pass; selectors longer than MAX_SELECTOR_BYTES are refused before parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from kubeapi import errors
from kubeapi.validation import aggregate_text, error_text, go_quote, go_string_slice, invalid
from kubeapi.validation.names import byte_length, is_qualified_name, is_valid_label_value

MAX_SELECTOR_BYTES = 64 * 1024
"""Upstream has no limit of its own (only the HTTP server's); 64 KiB fits `name in (...)` over
thousands of names, and the worst 64 KiB input still parses in a fraction of a second."""


class Operator(StrEnum):
    """selection.Operator's values."""

    IN = "in"
    NOT_IN = "notin"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_INFIX = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}
_INT64 = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Requirement:
    """One term of a selector. Parsed values are sorted and unique, as upstream's sets.String."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op is Operator.EXISTS:
            return self.key in labels
        if op is Operator.DOES_NOT_EXIST:
            return self.key not in labels
        # gt / lt: both sides must be int64s
        if self.key not in labels or len(self.values) != 1:
            return False
        have, want = _int64(labels[self.key]), _int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator is Operator.EXISTS:
            return self.key
        values = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        if self.operator in (Operator.IN, Operator.NOT_IN):
            values = f"({values})"
        return self.key + _INFIX[self.operator] + values


@dataclass(frozen=True)
class Selector:
    """An AND of requirements, kept sorted by key. `Selector.nothing()` is upstream's labels.Nothing():
    it matches no labels at all and prints as ""."""

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def everything(cls) -> Selector:
        return cls()

    @classmethod
    def nothing(cls) -> Selector:
        return cls(matches_nothing=True)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (it matches every label set)."""
        return not self.matches_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.matches_nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value the selector demands for `key`, if it demands one (for indexes)."""
        for r in self.requirements:
            if r.key == key:
                exact = (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN)
                return r.values[0] if r.operator in exact and len(r.values) == 1 else None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse(selector: str) -> Selector:
    """The string syntax of `?labelSelector=`; "" (or only whitespace) selects everything."""
    size = byte_length(selector)
    if size > MAX_SELECTOR_BYTES:
        raise errors.bad_request(
            f"label selector is too long: {size} bytes, the limit is {MAX_SELECTOR_BYTES}"
        )
    requirements = _Parser(_lex(selector)).parse()
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def from_set(labels: Mapping[str, str]) -> Selector:
    """Exactly these labels (a Service's or ReplicationController's selector); no validation, like
    upstream's SelectorFromSet. An empty map selects everything."""
    return Selector(tuple(Requirement(k, Operator.EQUALS, (labels[k],)) for k in sorted(labels)))


_LABEL_SELECTOR_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """A metav1.LabelSelector (upstream's LabelSelectorAsSelector). None matches nothing, {} and a
    selector with no terms match everything; an invalid term raises bad_request."""
    if obj is None:
        return Selector.nothing()
    match_labels: Mapping[str, Any] = obj.get("matchLabels") or {}
    expressions: Sequence[Mapping[str, Any]] = obj.get("matchExpressions") or []
    requirements = []
    for key in sorted(match_labels):
        requirements.append(_checked(key, Operator.EQUALS, [str(match_labels[key])]))
    for expr in expressions:
        name = expr.get("operator")
        op = _LABEL_SELECTOR_OPERATORS.get(name) if isinstance(name, str) else None
        if op is None:
            raise errors.bad_request(f"{go_quote(str(name or ''))} is not a valid label selector operator")
        values = expr.get("values")
        requirements.append(_checked(str(expr.get("key", "")), op, None if values is None else list(values)))
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def _checked(key: str, op: Operator, values: list[str] | None) -> Requirement:
    """upstream's NewRequirement: every problem, aggregated into one bad_request."""
    problems = _requirement_problems(key, op, values or [], values is None)
    if problems:
        raise errors.bad_request(aggregate_text(problems))
    return Requirement(key, op, tuple(values or ()))


def _requirement_problems(key: str, op: Operator, values: list[str], nil: bool = False) -> list[str]:
    out = []
    if key_errors := is_qualified_name(key):
        out.append(error_text(invalid("key", key, "; ".join(key_errors))))
    shown = go_string_slice(None if nil else values)
    if op in (Operator.IN, Operator.NOT_IN) and not values:
        out.append(f"values: Invalid value: {shown}: for 'in', 'notin' operators, values set can't be empty")
    elif op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and len(values) != 1:
        out.append(f"values: Invalid value: {shown}: exact-match compatibility requires one single value")
    elif op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        out.append(f"values: Invalid value: {shown}: values set must be empty for exists and does not exist")
    elif op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            out.append(
                f"values: Invalid value: {shown}: for 'Gt', 'Lt' operators, exactly one value is required"
            )
        for i, value in enumerate(values):
            if _int64(value) is None:
                detail = "for 'Gt', 'Lt' operators, the value must be an integer"
                out.append(error_text(invalid(f"values[{i}]", value, detail)))
    for i, value in enumerate(values):
        if value_errors := is_valid_label_value(value):
            out.append(error_text(invalid(f"values[{i}][{key}]", value, "; ".join(value_errors))))
    return out


def _int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64): an optional sign and ASCII digits, within int64."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


class _Token(Enum):
    END = "end of string"
    OPEN = "("
    CLOSE = ")"
    COMMA = ","
    BANG = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER = ">"
    LESS = "<"
    IN = "in"
    NOT_IN = "notin"
    IDENTIFIER = "identifier"


_SYMBOLS = {t.value: t for t in _Token if len(t.value) == 1}
_SPECIAL = frozenset("=!(),<>")
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_IDENTIFIER = re.compile(r"[^=!(),<> \t\r\n\x00]*")


def _lex(text: str) -> list[tuple[_Token, str]]:
    """Upstream's lexer: whitespace separates, '=!(),<>' are symbols ("==" and "!=" greedily), any
    other run of characters is an identifier, and "in"/"notin" are keywords. A NUL byte ends the input
    where a token would start and is swallowed right after one, as Go's lexer treats it."""
    tokens: list[tuple[_Token, str]] = []
    pos, end = 0, len(text)
    while True:
        pos = _run_end(_WHITESPACE, text, pos)
        if pos >= end or text[pos] == "\x00":
            tokens.append((_Token.END, ""))
            return tokens
        if text[pos] in _SPECIAL:
            pair = text[pos : pos + 2]
            if pair in ("==", "!="):
                tokens.append((_Token.DOUBLE_EQUALS if pair == "==" else _Token.NOT_EQUALS, pair))
                pos += 2
            else:
                tokens.append((_SYMBOLS[text[pos]], text[pos]))
                pos += 1
        else:
            stop = _run_end(_IDENTIFIER, text, pos)
            word = text[pos:stop]
            kind = _Token.IN if word == "in" else _Token.NOT_IN if word == "notin" else _Token.IDENTIFIER
            tokens.append((kind, word))
            pos = stop
        if pos < end and text[pos] == "\x00":
            pos += 1


def _run_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return match.end() if match else pos


class _ParseError(Exception):
    pass


_BINARY_OPERATORS = {
    _Token.IN: Operator.IN,
    _Token.NOT_IN: Operator.NOT_IN,
    _Token.EQUALS: Operator.EQUALS,
    _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Token.NOT_EQUALS: Operator.NOT_EQUALS,
    _Token.GREATER: Operator.GREATER_THAN,
    _Token.LESS: Operator.LESS_THAN,
}


class _Parser:
    """Recursive descent over the token list, with upstream's error messages word for word.
    "in" and "notin" are keywords only where an operator may stand; elsewhere they are identifiers."""

    def __init__(self, tokens: list[tuple[_Token, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self, operator_context: bool = False) -> tuple[_Token, str]:
        return self._as_context(self.tokens[self.position], operator_context)

    def take(self, operator_context: bool = False) -> tuple[_Token, str]:
        token = self.tokens[self.position]
        self.position = min(self.position + 1, len(self.tokens) - 1)  # END repeats
        return self._as_context(token, operator_context)

    @staticmethod
    def _as_context(token: tuple[_Token, str], operator_context: bool) -> tuple[_Token, str]:
        if not operator_context and token[0] in (_Token.IN, _Token.NOT_IN):
            return (_Token.IDENTIFIER, token[1])
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, literal = self.peek()
            if kind is _Token.END:
                return requirements
            if kind not in (_Token.IDENTIFIER, _Token.BANG):
                raise errors.bad_request(f"found '{literal}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _ParseError as err:
                raise errors.bad_request(f"unable to parse requirement: {err}") from None
            kind, literal = self.take()
            if kind is _Token.END:
                return requirements
            if kind is not _Token.COMMA:
                raise errors.bad_request(f"found '{literal}', expected: ',' or 'end of string'")
            kind, literal = self.peek()
            if kind not in (_Token.IDENTIFIER, _Token.BANG):
                raise errors.bad_request(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        key, op = self.key_and_inferred_operator()
        values: set[str] = set()
        if op is None:
            op = self.operator()
            values = self.value_set() if op in (Operator.IN, Operator.NOT_IN) else self.exact_value()
        problems = _requirement_problems(key, op, sorted(values))
        if problems:
            raise _ParseError(aggregate_text(problems))
        return Requirement(key, op, tuple(sorted(values)))

    def key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        op = None
        kind, literal = self.take()
        if kind is _Token.BANG:
            op = Operator.DOES_NOT_EXIST
            kind, literal = self.take()
        if kind is not _Token.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        if key_errors := is_qualified_name(literal):
            # the parser validates keys with a nil field path, which Go prints as "<nil>"
            raise _ParseError("<nil>: " + invalid("", literal, "; ".join(key_errors)).message)
        if op is None and self.peek()[0] in (_Token.END, _Token.COMMA):
            op = Operator.EXISTS
        return literal, op

    def operator(self) -> Operator:
        kind, literal = self.take(operator_context=True)
        if kind not in _BINARY_OPERATORS:
            raise _ParseError(f"found '{literal}', expected: in, notin, =, ==, !=, gt, lt")
        return _BINARY_OPERATORS[kind]

    def value_set(self) -> set[str]:
        kind, literal = self.take()
        if kind is not _Token.OPEN:
            raise _ParseError(f"found '{literal}' expected: '('")
        kind, literal = self.peek()
        if kind is _Token.CLOSE:
            self.take()
            return {""}
        if kind not in (_Token.IDENTIFIER, _Token.COMMA):
            raise _ParseError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # the ')' that identifiers() stopped at
        return values

    def identifiers(self) -> set[str]:
        """A comma-separated list in which empty items are the empty value: "(a,,b)", "(,a)", "(a,)"."""
        values: set[str] = set()
        while True:
            kind, literal = self.take()
            if kind is _Token.IDENTIFIER:
                values.add(literal)
                next_kind, next_literal = self.peek()
                if next_kind is _Token.CLOSE:
                    return values
                if next_kind is not _Token.COMMA:
                    raise _ParseError(f"found '{next_literal}', expected: ',' or ')'")
            elif kind is _Token.COMMA:
                if not values:
                    values.add("")
                next_kind = self.peek()[0]
                if next_kind is _Token.CLOSE:
                    values.add("")
                    return values
                if next_kind is _Token.COMMA:
                    values.add("")
            else:
                raise _ParseError(f"found '{literal}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_Token.END, _Token.COMMA):
            return {""}
        kind, literal = self.take()
        if kind is not _Token.IDENTIFIER:
            raise _ParseError(f"found '{literal}', expected: identifier")
        return {literal}
