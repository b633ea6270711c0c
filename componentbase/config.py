"""Component configuration files (KubeletConfiguration, KubeSchedulerConfiguration, ...) read from YAML
into pydantic models, strictly like upstream: right apiVersion and kind, no unknown or duplicate fields.

Every problem is a ConfigError with one line naming the file, the line and the field:

    /etc/kubelet/config.yaml:7: evictionHard.memory.available: Input should be a valid string
"""

from __future__ import annotations

import os
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from componentbase.errors import ConfigError
from componentbase.flags import format_duration, parse_duration

ModelT = TypeVar("ModelT", bound=BaseModel)
PathPart = str | int


class ConfigModel(BaseModel):
    """Base for configuration kinds: camelCase in the file, snake_case in Python, unknown fields
    rejected (upstream decodes config files strictly)."""

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel, extra="forbid")


def _duration_from_yaml(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError('must be a duration string like "10s" or "1m30s"')


Duration = Annotated[float, BeforeValidator(_duration_from_yaml), PlainSerializer(format_duration)]
"""A metav1.Duration field: "1m30s" in the file, seconds (float) in Python."""


def load_config(path: str | os.PathLike[str], model: type[ModelT], *, api_version: str, kind: str) -> ModelT:
    """Read `path` as one YAML document of `api_version`/`kind` into `model`. Raises ConfigError.

    apiVersion and kind are checked here and passed to the model only if it declares them."""
    filename = os.fspath(path)
    try:
        with open(filename, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ConfigError(f"{filename}: cannot read config file: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{filename}: cannot read config file: not UTF-8 text") from None

    root, document = _parse_yaml(filename, text)
    if not isinstance(root, yaml.MappingNode) or not isinstance(document, dict):
        raise ConfigError(
            f"{filename}:{_line(root)}: expected a mapping with apiVersion {api_version} and kind {kind}"
        )
    for field, expected in (("apiVersion", api_version), ("kind", kind)):
        found = document.get(field)
        if found is None:
            raise ConfigError(f'{filename}: {field}: field is missing, expected "{expected}"')
        if found != expected:
            _, line = _locate(root, (field,))
            raise ConfigError(f'{filename}:{line}: {field}: got "{found}", expected "{expected}"')

    declared = {field.alias or name for name, field in model.model_fields.items()}
    fields = {
        key: value for key, value in document.items() if key in declared or key not in ("apiVersion", "kind")
    }
    try:
        # by_name=False: the file must use the camelCase names, as upstream's; Python code may use either.
        return model.model_validate(fields, by_alias=True, by_name=False)
    except ValidationError as error:
        raise ConfigError(_describe(filename, root, error)) from None


def _parse_yaml(filename: str, text: str) -> tuple[yaml.Node, Any]:
    """The node tree (for line numbers) and the data built from it, from one parse."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(f"{filename}: config file is empty")
        _reject_duplicate_keys(filename, root, [])
        return root, loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{filename}:{mark.line + 1}" if mark else filename
        message = error.problem or "invalid YAML"
        if error.context:
            message += f" ({error.context})"
        raise ConfigError(f"{where}: {message}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{filename}: {error}") from None
    finally:
        loader.dispose()


def _reject_duplicate_keys(filename: str, node: yaml.Node, path: list[PathPart]) -> None:
    # PyYAML keeps the last of two equal keys; upstream's strict decoding rejects them.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    field = _format_path([*path, key.value])
                    raise ConfigError(f"{filename}:{_line(key)}: {field}: duplicate field")
                seen.add(key.value)
                _reject_duplicate_keys(filename, value, [*path, key.value])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _reject_duplicate_keys(filename, item, [*path, index])


def _describe(filename: str, root: yaml.Node, error: ValidationError) -> str:
    """The validation error that comes first in the file as `file:line: field.path: message`, and how
    many other fields have errors."""
    described = sorted((_describe_one(root, detail) for detail in error.errors()), key=lambda d: d[0])
    line, field, message = described[0]
    others = len({other_field for _, other_field, _ in described} - {field})
    text = f"{filename}:{line}: {field}: {message}" if field else f"{filename}:{line}: {message}"
    if others:
        text += f" (and {others} more field{'s' if others > 1 else ''} with errors)"
    return text


def _describe_one(root: yaml.Node, detail: ErrorDetails) -> tuple[int, str, str]:
    location = detail["loc"]
    matched, line = _locate(root, location)
    # pydantic's location also holds union members ("int", "str") that are not fields; the path is
    # what exists in the file, plus the name of a required field that is missing from it.
    if detail["type"] == "missing" and len(matched) == len(location) - 1:
        matched = [*matched, location[-1]]
    message = "unknown field" if detail["type"] == "extra_forbidden" else detail["msg"]
    return line, _format_path(matched), message


def _locate(root: yaml.Node, location: tuple[PathPart, ...]) -> tuple[list[PathPart], int]:
    """Follow `location` down the node tree as far as it exists; the part that exists and the line of
    the deepest node reached (for a mapping entry, the line of its key)."""
    node, line, matched = root, _line(root), []
    for part in location:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, line = value, _line(key)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = _line(child)
        if child is None:
            break
        node = child
        matched.append(part)
    return matched, line


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _format_path(parts: list[PathPart]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
