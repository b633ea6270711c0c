"""Resource quantities ("500m", "1.5Gi", "1e3") with apimachinery's api/resource semantics: exact
fixed-point values, never floats.

    parse_quantity("1.5Gi")    -> .value() 1610612736, .canonical "1536Mi"
    parse_quantity("1000m")    -> str() "1"
    parse_quantity("0.1m")     -> str() "100u"
    parse_quantity("1.1n")     -> str() "2n" (rounded up to whole nanos)

Parsing keeps upstream's quirks because they decide what a client reads back: every value is rounded
away from zero to a multiple of 10^-9; BinarySI values are capped at 2^63-1 (decimal ones are not);
a Quantity remembers its suffix family (BinarySI, DecimalSI, DecimalExponent); and a string that
already looks canonical is echoed back as written (so "1.500" stays "1.500", as upstream's cached
string does) while others are re-emitted canonically. `canonical` is always the canonical form.
Emission follows current upstream, which writes values past the suffix tables (above "E" or "Ei")
in exponent form instead of silently dropping the magnitude as v1.32 did.

Beyond upstream, kplane refuses values of 1e4000 or more and numbers with over 4000 significant
digits (upstream would spend minutes on "1e2000000000"); both raise ValueError.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
NUMERIC_ERROR = "unable to parse numeric part of quantity"
SUFFIX_ERROR = "unable to parse quantity's suffix"

MAX_DIGITS = 4000
"""Significant digits a parsed number may have, and the decimal exponent its magnitude stays below."""

_NANO = 10**9
_MAX_BINARY = 2**63 - 1
_MAX_INT32 = 2**31 - 1
_DIGITS = frozenset("0123456789")
_SUFFIX_LETTERS = frozenset("eEinumkKMGTP")


class Format(StrEnum):
    DECIMAL_EXPONENT = "DecimalExponent"  # 12e6
    BINARY_SI = "BinarySI"  # 12Mi
    DECIMAL_SI = "DecimalSI"  # 12M


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_POWER = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]  # indexed by the power of 1024


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact amount in units of 10^-9 (`nanos`), the suffix family it prints in, and the string
    it was parsed from when upstream would echo that string back. Compares and hashes by amount."""

    nanos: int
    format: Format = Format.DECIMAL_SI
    original: str | None = field(default=None, repr=False)

    @classmethod
    def from_int(cls, value: int, format: Format = Format.DECIMAL_SI) -> Quantity:
        """resource.NewQuantity."""
        return cls(value * _NANO, format)

    @classmethod
    def from_milli(cls, value: int, format: Format = Format.DECIMAL_SI) -> Quantity:
        """resource.NewMilliQuantity."""
        return cls(value * 10**6, format)

    def value(self) -> int:
        """The amount rounded away from zero to an integer (upstream's Value(); exact, no int64 wrap)."""
        return _round_away(self.nanos, _NANO)

    def milli_value(self) -> int:
        """The amount in thousandths, rounded away from zero (upstream's MilliValue())."""
        return _round_away(self.nanos, 10**6)

    def is_zero(self) -> bool:
        return self.nanos == 0

    @property
    def canonical(self) -> str:
        """Upstream's canonical form: the largest suffix that keeps the number whole."""
        return _canonical(self.nanos, self.format)

    def __str__(self) -> str:
        """What upstream serializes: the parsed string if it already looked canonical, else `canonical`."""
        return self.original if self.original is not None else self.canonical

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    def __add__(self, other: Quantity) -> Quantity:
        """A zero left side takes the right side's format, as upstream's Add."""
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.nanos + other.nanos, other.format if self.nanos == 0 else self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        return Quantity(self.nanos - other.nanos, other.format if self.nanos == 0 else self.format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __mul__(self, factor: int) -> Quantity:
        if not isinstance(factor, int) or isinstance(factor, bool):
            return NotImplemented
        return Quantity(self.nanos * factor, self.format)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.nanos == other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos < other.nanos


def parse_quantity(text: str) -> Quantity:
    """resource.ParseQuantity. Raises ValueError with upstream's message on malformed input."""
    if not text:
        raise ValueError(FORMAT_ERROR)
    if text == "0":
        return Quantity(0, Format.DECIMAL_SI, "0")
    negative, value, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(suffix)
    sign = -1 if negative else 1

    fast = _fast_path(text, num, denom, base, exponent, fmt)
    if fast is not None:
        magnitude, original = fast
        return Quantity(sign * magnitude, fmt, original)

    if not any(ch in _DIGITS for ch in value):
        raise ValueError(NUMERIC_ERROR)
    magnitude = _exact_nanos(num, denom, base, exponent)
    if fmt is Format.BINARY_SI and magnitude > _MAX_BINARY * _NANO:
        magnitude = _MAX_BINARY * _NANO
    if fmt is Format.BINARY_SI and 0 < magnitude < _NANO:
        fmt = Format.DECIMAL_SI  # a fraction of a byte has no binary suffix
    return Quantity(sign * magnitude, fmt)


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """Upstream's parseQuantityString: sign, the number as written, its integer digits (leading
    zeros dropped, "0" if none), fraction digits, and the suffix. Only a malformed suffix is an
    error here; "." and "-" scan as zero."""
    end = len(text)
    pos = 1 if text[0] in "+-" else 0
    negative = text[0] == "-"
    while pos < end and text[pos] == "0":
        pos += 1
    if pos == end:
        return negative, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos == end:
        return negative, text, text[start:], "", ""
    num = text[start:pos] or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos == end:
            return negative, text, num, denom, ""
    value, suffix_start = text[:pos], pos
    while pos < end and text[pos] in _SUFFIX_LETTERS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(FORMAT_ERROR)
    return negative, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, Format]:
    """(base, exponent, format) of a suffix. Exponents must fit an int32 scale (current upstream
    rejects the rest instead of wrapping them around as v1.32 did)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], Format.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], Format.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        signed = suffix[1:]
        digits = signed[1:] if signed[0] in ("+", "-") else signed
        if digits and len(digits) <= 20 and all(ch in _DIGITS for ch in digits):
            exponent = int(signed)
            if -_MAX_INT32 <= exponent <= _MAX_INT32:
                return 10, exponent, Format.DECIMAL_EXPONENT
    raise ValueError(SUFFIX_ERROR)


def _fast_path(
    text: str, num: str, denom: str, base: int, exponent: int, fmt: Format
) -> tuple[int, str | None] | None:
    """Upstream's int64 path: taken when the digits fit and no rounding is needed. It is where
    upstream decides to keep the input string as the serialized form, so it is emulated exactly."""
    mantissa = 1
    if fmt is Format.BINARY_SI:
        scale = 0
        if denom:
            return None
        mantissa = 1 << exponent
        precision = 15 - len(num) - exponent * 3 // 10 - 1
    else:
        scale = exponent
        precision = 18 - len(num) - len(denom)
    if precision < 0:
        return None
    scale -= len(denom)
    if scale < -9:
        return None
    shifted = num + denom
    parsed = int(shifted)
    result = parsed * mantissa
    if result > _MAX_BINARY:
        return None
    if scale > MAX_DIGITS:
        raise ValueError(f"quantity {text!r} is too large: kplane accepts values below 1e{MAX_DIGITS}")
    nanos = result * 10 ** (scale + 9)
    _check_magnitude(text, nanos)
    if fmt is Format.BINARY_SI:
        keep = parsed & 0x07 != 0
    else:
        keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
    return nanos, text if keep else None


def _exact_nanos(num: str, denom: str, base: int, exponent: int) -> int:
    """|number| x base^exponent in nanos, rounded up: upstream's inf.Dec path."""
    digits = (num + denom).lstrip("0")
    significant = digits.rstrip("0")
    if not significant:
        return 0
    if len(significant) > MAX_DIGITS:
        raise ValueError(
            f"quantity has {len(significant)} significant digits; kplane accepts at most {MAX_DIGITS}"
        )
    n = int(significant)
    power = (len(digits) - len(significant)) - len(denom) + 9  # number = n x 10^(power - 9)
    if base == 10:
        power += exponent
    else:
        n <<= exponent
    if power >= 0:
        if power > MAX_DIGITS + 9:
            raise ValueError(f"quantity is too large: kplane accepts values below 1e{MAX_DIGITS}")
        nanos: int = n * 10**power
        _check_magnitude("", nanos)
        return nanos
    if -power > len(significant) + 20:  # n < 10^-power: a sliver above zero, one nano after rounding
        return 1
    divisor: int = 10**-power
    whole, rest = divmod(n, divisor)
    return whole + (1 if rest else 0)


_TOO_LARGE_NANOS = 10 ** (MAX_DIGITS + 9)  # computed once: the 4000-digit power costs 25 us


def _check_magnitude(text: str, nanos: int) -> None:
    if abs(nanos) >= _TOO_LARGE_NANOS:
        shown = f" {text!r}" if text else ""
        raise ValueError(f"quantity{shown} is too large: kplane accepts values below 1e{MAX_DIGITS}")


def _round_away(nanos: int, unit: int) -> int:
    whole, rest = divmod(abs(nanos), unit)
    whole += 1 if rest else 0
    return -whole if nanos < 0 else whole


def _canonical(nanos: int, fmt: Format) -> str:
    """Upstream's CanonicalizeBytes: BinarySI only for whole values of at least 1024 in magnitude,
    otherwise a decimal mantissa with the exponent floored to a multiple of 3."""
    if nanos == 0:
        return "0"
    if fmt is Format.BINARY_SI:
        if abs(nanos) < 1024 * _NANO or nanos % _NANO:
            fmt = Format.DECIMAL_SI
        else:
            whole = nanos // _NANO
            trailing_zero_bits = (abs(whole) & -abs(whole)).bit_length() - 1
            power = trailing_zero_bits // 10
            if power < len(_BINARY_BY_POWER):
                return f"{whole >> (10 * power)}{_BINARY_BY_POWER[power]}"
            fmt = Format.DECIMAL_EXPONENT  # beyond Ei: exact decimal instead
    digits = str(abs(nanos))
    significant = digits.rstrip("0")
    exponent = len(digits) - len(significant) - 9
    floor3 = exponent - exponent % 3
    mantissa = ("-" if nanos < 0 else "") + significant + "0" * (exponent - floor3)
    if fmt is Format.DECIMAL_SI and floor3 in _DECIMAL_BY_EXPONENT:
        return mantissa + _DECIMAL_BY_EXPONENT[floor3]
    return mantissa if floor3 == 0 else f"{mantissa}e{floor3}"
