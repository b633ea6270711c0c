"""Command-line flags parsed like upstream components (Go pflag, as component-base wires it).

    fs = FlagSet("kplane-scheduler")
    config = fs.string("config", "", "The path to the configuration file.")
    port = fs.int("secure-port", 10259, "The port on which to serve HTTPS.")
    flags = fs.parse_or_exit(argv)
    flags[config]                  # typed: str
    flags.secure_port              # the same value, untyped
    flags.changed("secure-port")   # given on the command line, so it overrides the config file

Syntax: `--name=value` or `--name value`; booleans as `--name` or `--name=false` (`--name false` makes
`false` a positional argument, as in pflag); `-x value`, `-x=value`, `-xvalue` for flags with a
shorthand; `--` ends the flags. `_` in a flag name means `-` (upstream's word-separator normalization).
Lists take comma-separated values and maps `k=v,k2=v2`; both may repeat: the first occurrence replaces
the default, later ones add to it.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NoReturn, TypeVar, overload

from componentbase.cli import EXIT_USAGE, fail
from componentbase.errors import FlagError, HelpRequested

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# Go's time.ParseDuration units, in seconds.
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Go duration ("10s", "1m30s", "500ms", "-1.5h") in seconds; ValueError if malformed."""
    body = text[1:] if text[:1] in "+-" else text
    sign = -1.0 if text.startswith("-") else 1.0
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Seconds as Go's Duration.String() writes them: "1m30s", "500ms", "1h0m0s", "0s"."""
    nanoseconds = round(seconds * 1e9)
    sign = "-" if nanoseconds < 0 else ""
    nanoseconds = abs(nanoseconds)
    if nanoseconds == 0:
        return "0s"
    if nanoseconds < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanoseconds >= size:
                return f"{sign}{_trim_fraction(nanoseconds / size)}{unit}"
    hours, rest = divmod(nanoseconds, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _trim_fraction(rest / 1e9) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _trim_fraction(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError("not a boolean (true or false)")


def _parse_int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        return int(text, 0)  # 0x1f, 0o17, like Go's strconv.ParseInt(s, 0, 64)
    except ValueError:
        raise ValueError("not an integer") from None


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def _parse_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError("not an IP address") from None


def _parse_cidr(text: str) -> IPNetwork:
    try:
        # Go's net.ParseCIDR keeps host bits in the IP but masks the network, like strict=False.
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("not a CIDR (like 10.0.0.0/24)") from None


def _parse_list(text: str) -> list[str]:
    return [] if text == "" else [item.strip() for item in text.split(",")]


def _parse_map(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in _parse_list(text):
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"{pair!r} must be formatted as key=value")
        result[key] = value
    return result


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _normalize(name: str) -> str:
    return name.replace("_", "-")


@dataclass(frozen=True)
class Flag(Generic[T]):
    """One flag's definition. A FlagSet's definition methods return it; `flags[flag]` reads its value."""

    name: str
    default: T
    help: str
    type_name: str  # shown in the usage, as pflag does: string, int, duration, strings, ...
    parse: Callable[[str], T]
    format: Callable[[T], str]  # how the default looks in the usage
    shorthand: str = ""
    implicit_value: str | None = None  # the value of a bare `--name` (booleans: "true")
    merge: Callable[[T, T], T] | None = None  # repeatable flags: combine the earlier value with a new one

    @property
    def spelled(self) -> str:
        return f"-{self.shorthand}, --{self.name}" if self.shorthand else f"--{self.name}"


class Flags:
    """The parsed command line: values by flag (typed), by name, or as attributes (`-` becomes `_`)."""

    def __init__(self, values: dict[str, Any], changed: set[str], args: list[str]) -> None:
        self._values = values
        self._changed = frozenset(changed)
        self.args = args  # positional arguments, in order

    @overload
    def __getitem__(self, key: Flag[T]) -> T: ...
    @overload
    def __getitem__(self, key: str) -> Any: ...
    def __getitem__(self, key: Flag[Any] | str) -> Any:
        name = key.name if isinstance(key, Flag) else _normalize(key)
        return self._values[name]

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        try:
            return self._values[_normalize(attribute)]
        except KeyError:
            raise AttributeError(f"no flag named --{_normalize(attribute)}") from None

    def changed(self, flag: Flag[Any] | str) -> bool:
        """True if the flag was given on the command line (even if with its default value)."""
        return (flag.name if isinstance(flag, Flag) else _normalize(flag)) in self._changed

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Flags({self._values!r}, args={self.args!r})"


class FlagSet:
    """A component's flags. Define them, then `parse(argv)` or `parse_or_exit(argv)`."""

    def __init__(
        self, prog: str, *, description: str = "", positional_args: bool = False, env_prefix: str = ""
    ) -> None:
        self.prog = prog
        self.description = description
        self.positional_args = positional_args  # upstream components take none: an error by default
        # etcd reads every flag from ETCD_<NAME> too (ETCD_DATA_DIR for --data-dir); the command line wins.
        self.env_prefix = env_prefix
        self._flags: dict[str, Flag[Any]] = {}
        self._shorthands: dict[str, Flag[Any]] = {}

    def add(self, flag: Flag[T]) -> Flag[T]:
        """Register a flag built by hand (for a type the methods below do not cover)."""
        flag = dataclasses.replace(flag, name=_normalize(flag.name))
        if flag.name in self._flags or flag.name == "help":
            raise ValueError(f"flag --{flag.name} defined twice")
        if flag.shorthand:
            if len(flag.shorthand) != 1 or flag.shorthand in self._shorthands or flag.shorthand == "h":
                raise ValueError(f"bad or duplicate shorthand -{flag.shorthand} for --{flag.name}")
            self._shorthands[flag.shorthand] = flag
        self._flags[flag.name] = flag
        return flag

    def lookup(self, name: str) -> Flag[Any] | None:
        return self._flags.get(_normalize(name))

    def string(self, name: str, default: str, help: str, *, shorthand: str = "") -> Flag[str]:
        return self.add(Flag(name, default, help, "string", str, _quote, shorthand))

    def duration(self, name: str, default: float, help: str, *, shorthand: str = "") -> Flag[float]:
        """A Go duration ("10s", "1m30s"); the value is in seconds."""
        return self.add(
            Flag(name, float(default), help, "duration", parse_duration, format_duration, shorthand)
        )

    def strings(
        self, name: str, default: Sequence[str], help: str, *, shorthand: str = ""
    ) -> Flag[list[str]]:
        """A string list: `--name=a,b --name=c` gives ["a", "b", "c"]."""
        return self.add(
            Flag(
                name,
                list(default),
                help,
                "strings",
                _parse_list,
                lambda value: "[" + ",".join(value) + "]",
                shorthand,
                merge=lambda earlier, new: [*earlier, *new],
            )
        )

    def string_map(self, name: str, default: dict[str, str], help: str) -> Flag[dict[str, str]]:
        """A string map: `--name=a=1,b=2 --name=c=3`, like `--feature-gates` or `--node-labels`."""
        return self.add(
            Flag(
                name,
                dict(default),
                help,
                "mapStringString",
                _parse_map,
                lambda value: "[" + ",".join(f"{k}={v}" for k, v in sorted(value.items())) + "]",
                merge=lambda earlier, new: {**earlier, **new},
            )
        )

    def ip(self, name: str, default: str, help: str) -> Flag[str]:
        """An IPv4 or IPv6 address, validated and kept as its canonical string."""
        if default:
            default = _parse_ip(default)
        return self.add(Flag(name, default, help, "ip", _parse_ip, str))

    def cidr(self, name: str, default: str | None, help: str) -> Flag[IPNetwork | None]:
        """An IP network ("10.96.0.0/12"); None when unset and without a default."""
        parsed_default = _parse_cidr(default) if default else None
        return self.add(Flag(name, parsed_default, help, "ipNet", _parse_cidr, str))

    def choice(self, name: str, default: str, choices: Sequence[str], help: str) -> Flag[str]:
        """A string that must be one of `choices` (like `--log-format=text|json`)."""
        allowed = tuple(choices)
        if default not in allowed:
            raise ValueError(f"default {default!r} of --{name} is not one of {allowed}")

        def parse_choice(text: str) -> str:
            if text not in allowed:
                raise ValueError("must be one of " + ", ".join(allowed))
            return text

        return self.add(Flag(name, default, help, "string", parse_choice, _quote))

    def env_name(self, flag: Flag[Any]) -> str:
        return self.env_prefix + flag.name.upper().replace("-", "_")

    def parse(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Flags:
        """Parse `argv` (without the program name) and, with an `env_prefix`, the environment (default:
        os.environ) for flags not on the command line. Raises FlagError, or HelpRequested for --help/-h."""
        values: dict[str, Any] = {name: copy.copy(flag.default) for name, flag in self._flags.items()}
        changed: set[str] = set()
        if self.env_prefix:
            self._parse_env(os.environ if env is None else env, values)
        args: list[str] = []
        remaining = list(argv)
        while remaining:
            arg = remaining.pop(0)
            if arg == "--":
                args.extend(remaining)
                break
            if arg.startswith("--"):
                flag, text = self._long_flag(arg, remaining)
            elif arg.startswith("-") and arg != "-":
                flag, text = self._shorthand_flag(arg, remaining)
            else:
                args.append(arg)  # pflag lets positional arguments and flags interleave
                continue
            try:
                value = flag.parse(text)
            except ValueError as error:
                raise FlagError(
                    f"invalid argument {_quote(text)} for {_quote(flag.spelled)} flag: {error}"
                ) from None
            if flag.merge is not None and flag.name in changed:
                value = flag.merge(values[flag.name], value)
            values[flag.name] = value
            changed.add(flag.name)
        if args and not self.positional_args:
            raise FlagError(f"unexpected argument: {args[0]}")
        return Flags(values, changed, args)

    def _parse_env(self, env: Mapping[str, str], values: dict[str, Any]) -> None:
        for flag in self._flags.values():
            text = env.get(self.env_name(flag))
            if text is None:
                continue
            try:
                values[flag.name] = flag.parse(text)
            except ValueError as error:
                raise FlagError(f"invalid value {_quote(text)} for {self.env_name(flag)}: {error}") from None

    def _long_flag(self, arg: str, remaining: list[str]) -> tuple[Flag[Any], str]:
        name, equals, value = arg[2:].partition("=")
        flag = self.lookup(name)
        if flag is None:
            if _normalize(name) == "help":
                raise HelpRequested(self.usage())
            raise FlagError(f"unknown flag: --{name}")
        return flag, value if equals else self._value_after(flag, arg, remaining)

    def _shorthand_flag(self, arg: str, remaining: list[str]) -> tuple[Flag[Any], str]:
        letter, rest = arg[1], arg[2:]
        flag = self._shorthands.get(letter)
        if flag is None:
            if letter == "h":
                raise HelpRequested(self.usage())
            raise FlagError(f"unknown shorthand flag: {letter!r} in {arg}")
        if rest.startswith("="):
            return flag, rest[1:]
        if rest and flag.implicit_value is None:
            return flag, rest  # -v4
        if rest:
            raise FlagError(f"combined shorthand flags are not supported: {arg}")
        return flag, self._value_after(flag, arg, remaining)

    @staticmethod
    def _value_after(flag: Flag[Any], arg: str, remaining: list[str]) -> str:
        if flag.implicit_value is not None:
            return flag.implicit_value
        if not remaining:
            raise FlagError(f"flag needs an argument: {arg}")
        return remaining.pop(0)

    def parse_or_exit(self, argv: Sequence[str] | None = None) -> Flags:
        """Parse `argv` (default: sys.argv[1:]); on --help print the usage and exit 0, on a bad command
        line print one line `prog: error: ...` to stderr and exit 2."""
        try:
            return self.parse(sys.argv[1:] if argv is None else argv)
        except HelpRequested as help_requested:
            _print_usage_and_exit(help_requested.usage)
        except FlagError as error:
            fail(self.prog, str(error), EXIT_USAGE)

    def usage(self) -> str:
        """The `--help` text: every flag sorted by name, with its type and non-zero default."""
        lines = [f"Usage of {self.prog}:"]
        if self.description:
            lines[0:0] = [self.description, ""]
        left_columns = {name: _usage_left_column(flag) for name, flag in self._flags.items()}
        width = max((len(column) for column in left_columns.values()), default=0)
        for name in sorted(self._flags):
            flag = self._flags[name]
            text = flag.help
            if flag.default:  # pflag leaves out zero defaults ("", 0, false, empty lists)
                text += f" (default {flag.format(flag.default)})"
            lines.append(f"{left_columns[name]:<{width}}   {text}".rstrip())
        return "\n".join(lines) + "\n"

    # The boolean and number types come last: once a method named `int` exists, `int` in a later
    # annotation of this class body would name the method, not the type.
    def bool(self, name: str, default: bool, help: str, *, shorthand: str = "") -> Flag[bool]:
        """`--name` or `--name=true|false`."""
        return self.add(
            Flag(name, default, help, "", parse_bool, _format_bool, shorthand, implicit_value="true")
        )

    def float(self, name: str, default: float, help: str, *, shorthand: str = "") -> Flag[float]:
        return self.add(Flag(name, default, help, "float", _parse_float, _format_float, shorthand))

    def int(self, name: str, default: int, help: str, *, shorthand: str = "") -> Flag[int]:
        return self.add(Flag(name, default, help, "int", _parse_int, str, shorthand))


def _usage_left_column(flag: Flag[Any]) -> str:
    prefix = f"  -{flag.shorthand}, " if flag.shorthand else "      "
    return f"{prefix}--{flag.name} {flag.type_name}".rstrip()


def _format_float(value: float) -> str:
    return f"{value:g}"  # like Go's %v: 50, 0.5, 1e-07


def _format_bool(value: bool) -> str:
    return "true" if value else "false"


def _print_usage_and_exit(usage: str) -> NoReturn:
    sys.stdout.write(usage)
    sys.exit(0)
