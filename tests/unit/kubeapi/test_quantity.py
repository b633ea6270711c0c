"""Quantities parse, round, compare and print as apimachinery's api/resource does (the cases are
upstream's quantity_test.go), exactly and without floats."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from kubeapi.quantity import FORMAT_ERROR, NUMERIC_ERROR, SUFFIX_ERROR, Format, Quantity, parse_quantity

BIN, DEC, EXP = Format.BINARY_SI, Format.DECIMAL_SI, Format.DECIMAL_EXPONENT

# upstream TestQuantityParse: input, exact value, format
PARSED = [
    ("0", "0", DEC),
    ("0n", "0", DEC),
    ("0u", "0", DEC),
    ("0m", "0", DEC),
    ("0Ki", "0", BIN),
    ("0k", "0", DEC),
    ("0Mi", "0", BIN),
    ("0M", "0", DEC),
    ("0Gi", "0", BIN),
    ("0G", "0", DEC),
    ("0Ti", "0", BIN),
    ("0T", "0", DEC),
    ("1", "1", DEC),
    ("1Ki", "1024", BIN),
    ("8Ki", "8192", BIN),
    ("7Mi", str(7 * 1024**2), BIN),
    ("6Gi", str(6 * 1024**3), BIN),
    ("5Ti", str(5 * 1024**4), BIN),
    ("4Pi", str(4 * 1024**5), BIN),
    ("3Ei", str(3 * 1024**6), BIN),
    ("10Ti", str(10 * 1024**4), BIN),
    ("100Ti", str(100 * 1024**4), BIN),
    ("5n", "5e-9", DEC),
    ("4u", "4e-6", DEC),
    ("3m", "3e-3", DEC),
    ("9", "9", DEC),
    ("8k", "8e3", DEC),
    ("50k", "5e4", DEC),
    ("7M", "7e6", DEC),
    ("6G", "6e9", DEC),
    ("5T", "5e12", DEC),
    ("40T", "4e13", DEC),
    ("300T", "3e14", DEC),
    ("2P", "2e15", DEC),
    ("1E", "1e18", DEC),
    ("1E-3", "1e-3", EXP),
    ("1e3", "1e3", EXP),
    ("1E6", "1e6", EXP),
    ("1e9", "1e9", EXP),
    ("1E12", "1e12", EXP),
    ("1e15", "1e15", EXP),
    ("1E18", "1e18", EXP),
    ("1e14", "1e14", EXP),
    ("1e13", "1e13", EXP),
    ("100.035k", "100035", DEC),
    ("0.001", "1e-3", DEC),
    ("0.0005k", "5e-1", DEC),
    ("0.005", "5e-3", DEC),
    ("0.05", "5e-2", DEC),
    ("0.5", "5e-1", DEC),
    ("0.00050k", "5e-1", DEC),
    ("0.00500", "5e-3", DEC),
    ("0.05000", "5e-2", DEC),
    ("0.50000", "5e-1", DEC),
    ("0.5e0", "5e-1", EXP),
    ("0.5e-1", "5e-2", EXP),
    ("0.5e-2", "5e-3", EXP),
    ("10.035M", "10035e3", DEC),
    ("1.2e3", "12e2", EXP),
    ("1.3E+6", "13e5", EXP),
    ("1.40e9", "14e8", EXP),
    ("1.53E12", "153e10", EXP),
    ("1.6e15", "16e14", EXP),
    ("1.7E18", "17e17", EXP),
    ("9.01", "901e-2", DEC),
    ("8.1k", "81e2", DEC),
    ("7.123456M", "7123456", DEC),
    ("6.987654321G", "6987654321", DEC),
    ("5.444T", "5444e9", DEC),
    ("40.1T", "401e11", DEC),
    ("300.2T", "3002e11", DEC),
    ("2.5P", "25e14", DEC),
    ("1.01E", "101e16", DEC),
    # things that saturate or round
    ("3.001n", "4e-9", DEC),
    ("1.1E-9", "2e-9", EXP),
    ("0.0000000001", "1e-9", DEC),
    ("0.0000000005", "1e-9", DEC),
    ("0.00000000050", "1e-9", DEC),
    ("0.5e-9", "1e-9", EXP),
    ("0.9n", "1e-9", DEC),
    ("0.00000012345", "124e-9", DEC),
    ("0.00000012354", "124e-9", DEC),
    ("9Ei", str(2**63 - 1), BIN),
    ("9223372036854775807Ki", str(2**63 - 1), BIN),
    ("12E", "12e18", DEC),
    # fractional binary
    ("100.035Ki", "10243584e-2", BIN),
    ("0.5Mi", str(1024**2 // 2), BIN),
    ("0.05Gi", "536870912e-1", BIN),
    ("0.025Ti", "274877906944e-1", BIN),
    # things written by trolls
    ("0.000000000001Ki", "2e-9", DEC),
    (".001", "1e-3", DEC),
    (".0001k", "100e-3", DEC),
    ("1.", "1", DEC),
    ("1.G", "1e9", DEC),
]


def nanos(value: str) -> int:
    return int(Decimal(value).scaleb(9))


@pytest.mark.parametrize(("text", "value", "fmt"), PARSED, ids=[f"{t!r} parses" for t, _, _ in PARSED])
def test_upstream_quantities_parse_to_their_exact_value_and_format(
    text: str, value: str, fmt: Format
) -> None:
    quantity = parse_quantity(text)
    assert (quantity.nanos, quantity.format) == (nanos(value), fmt)


@pytest.mark.parametrize(("text", "value", "fmt"), PARSED, ids=[f"-{t!r} parses" for t, _, _ in PARSED])
def test_a_minus_sign_negates_every_upstream_quantity(text: str, value: str, fmt: Format) -> None:
    quantity = parse_quantity("-" + text)
    assert (quantity.nanos, quantity.format) == (-nanos(value), fmt)


@pytest.mark.parametrize(("text", "value", "fmt"), PARSED, ids=[f"+{t!r} parses" for t, _, _ in PARSED])
def test_a_plus_sign_changes_nothing(text: str, value: str, fmt: Format) -> None:
    quantity = parse_quantity("+" + text)
    assert (quantity.nanos, quantity.format) == (nanos(value), fmt)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", FORMAT_ERROR, id="the empty string"),
        pytest.param("1.1.M", FORMAT_ERROR, id="two decimal points"),
        pytest.param("1+1.0M", FORMAT_ERROR, id="a sign in the middle"),
        pytest.param("0.1mi", SUFFIX_ERROR, id="a lower case binary suffix"),
        pytest.param("0.1am", FORMAT_ERROR, id="a letter outside the suffix alphabet"),
        pytest.param("aoeu", FORMAT_ERROR, id="no number at all"),
        pytest.param(".5i", SUFFIX_ERROR, id="a lone i"),
        pytest.param("1i", SUFFIX_ERROR, id="i without a prefix letter"),
        pytest.param("-3.01i", SUFFIX_ERROR, id="a negative lone i"),
        pytest.param("-3.01e-", SUFFIX_ERROR, id="an exponent without digits"),
        pytest.param("1e4294967297", SUFFIX_ERROR, id="an exponent past int32 is refused, not wrapped"),
        pytest.param("1ki", SUFFIX_ERROR, id="kilo is not binary"),
        pytest.param(" 1", FORMAT_ERROR, id="leading whitespace"),
        pytest.param("1 ", FORMAT_ERROR, id="trailing whitespace"),
        pytest.param(".e-10", NUMERIC_ERROR, id="no digits where rounding is needed"),
    ],
)
def test_malformed_quantities_raise_upstream_messages(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_quantity(text)
    assert str(raised.value) == message


def test_the_format_error_quotes_upstreams_regular_expression() -> None:
    assert FORMAT_ERROR == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("1Ki", "1Ki", id="1Ki"),
        pytest.param("1Mi", "1Mi", id="1Mi"),
        pytest.param("1024Mi", "1Gi", id="1024Mi is 1Gi"),
        pytest.param("1536Mi", "1536Mi", id="1536Mi stays"),
        pytest.param("1.5Gi", "1536Mi", id="1.5Gi is 1536Mi"),
        pytest.param("1000M", "1G", id="1000M is 1G"),
        pytest.param("1000m", "1", id="1000m is 1"),
        pytest.param("0.5", "500m", id="0.5 is 500m"),
        pytest.param("1e3", "1e3", id="an exponent keeps exponent form"),
        pytest.param("1000e0", "1e3", id="exponent form moves zeros into the exponent"),
        pytest.param("0.5e0", "500e-3", id="exponent form floors to a multiple of three"),
        pytest.param("1.2e3", "1200", id="exponent form with exponent 0 has no suffix"),
        pytest.param(".001Ki", "1024m", id="a fraction of a Ki is decimal"),
        pytest.param(".000001Ki", "1024u", id="micro"),
        pytest.param(".000000001Ki", "1024n", id="nano"),
        pytest.param(".000000000001Ki", "2n", id="below nano rounds up"),
        pytest.param("0.5Mi", "512Ki", id="half a Mi"),
        pytest.param("1025Ki", "1025Ki", id="no larger binary suffix fits"),
        pytest.param("1023", "1023", id="small decimal"),
        pytest.param("9Ei", "9223372036854775807", id="binary is capped at int64 and printed whole"),
        pytest.param("1000E", "1e21", id="past E the exponent form keeps the magnitude"),
        pytest.param("1.01E", "1010P", id="the largest suffix that keeps the number whole"),
        pytest.param("-0", "0", id="negative zero is zero"),
        pytest.param("-1024Mi", "-1Gi", id="negative binary"),
        pytest.param("0.1m", "100u", id="a tenth of a milli"),
    ],
)
def test_quantities_have_upstreams_canonical_form(text: str, canonical: str) -> None:
    assert parse_quantity(text).canonical == canonical


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        pytest.param("100m", "100m", id="a canonical string is kept"),
        pytest.param("1000m", "1", id="a non-canonical string is replaced"),
        pytest.param("+1", "+1", id="an explicit plus sign is echoed like upstream"),
        pytest.param("01", "01", id="leading zeros are echoed like upstream"),
        pytest.param("1.500", "1.500", id="a fraction with a multiple-of-three scale is echoed"),
        pytest.param("1.5", "1500m", id="other fractions are canonicalized"),
        pytest.param("8Ki", "8Ki", id="a binary multiple of 8 is canonicalized to itself"),
        pytest.param("1E6", "1E6", id="upper case exponents are echoed"),
    ],
)
def test_str_is_what_upstream_serializes(text: str, printed: str) -> None:
    assert str(parse_quantity(text)) == printed


@pytest.mark.parametrize(
    ("quantity", "canonical"),
    [
        pytest.param(Quantity.from_int(1024**3, BIN), "1Gi", id="NewQuantity binary"),
        pytest.param(Quantity.from_int(300 * 1024**2, BIN), "300Mi", id="300Mi"),
        pytest.param(Quantity.from_int(5, BIN), "5", id="small binary values print as decimal"),
        pytest.param(Quantity.from_milli(500, BIN), "500m", id="fractional binary values print as decimal"),
        pytest.param(Quantity.from_int(1001 * 1024**3, BIN), "1001Gi", id="1001Gi"),
        pytest.param(Quantity.from_int(10**9), "1G", id="1G"),
        pytest.param(Quantity.from_milli(1080), "1080m", id="1080m"),
        pytest.param(Quantity.from_int(1234567 * 10**6), "1234567M", id="1234567M"),
        pytest.param(Quantity.from_milli(1234567, BIN), "1234567m", id="1234567m binary"),
        pytest.param(Quantity.from_int(3000), "3k", id="3k"),
        pytest.param(Quantity.from_int(0, BIN), "0", id="binary zero"),
        pytest.param(Quantity.from_int(10**9, EXP), "1e9", id="exponent 1e9"),
        pytest.param(Quantity.from_milli(1, EXP), "1e-3", id="exponent 1e-3"),
        pytest.param(Quantity(1, EXP), "1e-9", id="exponent 1e-9"),
        pytest.param(Quantity.from_milli(80, EXP), "80e-3", id="exponent 80e-3"),
        pytest.param(Quantity.from_int(300 * 10**6, EXP), "300e6", id="exponent 300e6"),
        pytest.param(Quantity(1080), "1080n", id="1080n"),
        pytest.param(Quantity.from_milli(1), "1m", id="1m"),
        pytest.param(Quantity.from_int(1000), "1k", id="NewQuantity 1000"),
        pytest.param(Quantity.from_milli(1234000), "1234", id="NewMilliQuantity 1234000"),
        pytest.param(Quantity.from_milli(1024, BIN), "1024m", id="NewMilliQuantity binary turns decimal"),
        pytest.param(Quantity.from_int(2000, BIN), "2000", id="binary with no 1024 factor"),
        pytest.param(Quantity.from_int(-2000, BIN), "-2000", id="negative binary with no 1024 factor"),
        pytest.param(Quantity.from_int(10**21), "1e21", id="decimal past E"),
        pytest.param(Quantity.from_int(10**70, BIN), "10e69", id="binary past Ei in exponent form"),
        pytest.param(
            Quantity.from_int(2**70, BIN), "1180591620717411303424", id="binary past Ei as an integer"
        ),
    ],
)
def test_constructed_quantities_print_like_upstream(quantity: Quantity, canonical: str) -> None:
    assert str(quantity) == canonical
    assert parse_quantity(canonical) == quantity


@pytest.mark.parametrize(
    ("text", "value", "milli"),
    [
        pytest.param("-.484785E-7466", -1, -1, id="a tiny negative rounds away from zero"),
        pytest.param(".484785E-7466", 1, 1, id="a tiny positive rounds up"),
        pytest.param("-.484785E-1", -1, -49, id="negative fraction"),
        pytest.param(".484785E-1", 1, 49, id="positive fraction"),
        pytest.param("-0.0005", -1, -1, id="negative half milli"),
        pytest.param("0.0005", 1, 1, id="positive half milli"),
        pytest.param("-1500m", -2, -1500, id="negative one and a half"),
        pytest.param("1500m", 2, 1500, id="one and a half"),
        pytest.param("-9.5000000001Gi", -10200547329, -10200547328108, id="negative binary fraction"),
        pytest.param("9.5000000001Gi", 10200547329, 10200547328108, id="binary fraction"),
        pytest.param("-1", -1, -1000, id="minus one"),
        pytest.param("1", 1, 1000, id="one"),
        pytest.param("0", 0, 0, id="zero"),
        pytest.param("1.5Gi", 1610612736, 1610612736000, id="a memory request"),
    ],
)
def test_value_and_milli_value_round_away_from_zero(text: str, value: int, milli: int) -> None:
    quantity = parse_quantity(text)
    assert (quantity.value(), quantity.milli_value()) == (value, milli)


@pytest.mark.parametrize(
    ("left", "right", "order"),
    [
        pytest.param("0", "0", 0, id="zero equals zero"),
        pytest.param("100m", "50m", 1, id="100m is more than 50m"),
        pytest.param("50m", "100m", -1, id="50m is less than 100m"),
        pytest.param("10000T", "100Gi", 1, id="10000T is more than 100Gi"),
        pytest.param("1Ki", "1024", 0, id="formats do not matter"),
        pytest.param("1", "1000m", 0, id="1 equals 1000m"),
    ],
)
def test_quantities_compare_by_amount(left: str, right: str, order: int) -> None:
    a, b = parse_quantity(left), parse_quantity(right)
    assert (a > b) - (a < b) == order
    assert (a == b) is (order == 0)
    if order == 0:
        assert hash(a) == hash(b)


@pytest.mark.parametrize("text", ["100m", "1Gi"])
def test_adding_or_subtracting_zero_keeps_the_suffix(text: str) -> None:
    value, zero = parse_quantity(text), parse_quantity("0")
    assert str(value + zero) == text
    assert str(zero + value) == text
    assert str(value - zero) == text
    assert str(zero - value) == str(-value) == "-" + text


def test_arithmetic_keeps_the_left_format_and_is_exact() -> None:
    total = parse_quantity("1Gi") + parse_quantity("512Mi")
    assert (str(total), total.format) == ("1536Mi", BIN)
    assert str(parse_quantity("10") - parse_quantity("1")) == "9"
    assert str(parse_quantity("0.1") + parse_quantity("0.2")) == "300m"
    assert str(parse_quantity("1Ei") * 1024) == "1180591620717411303424"
    assert str(Quantity.from_milli(-9223372036854775808)) == "-9223372036854775808m"
    assert (Quantity.from_milli(-9223372036854775808) * -1).value() == 9223372036854775808 // 1000 + 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("1e2147483647", id="a huge exponent"),
        pytest.param("1e4000", id="just past the magnitude limit"),
        pytest.param("9" * 4001 + "Ki", id="too many digits"),
    ],
)
def test_quantities_beyond_kplanes_limits_are_refused_quickly(text: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="kplane accepts"):
        parse_quantity(text)
    assert time.perf_counter() - started < 1.0


def test_quantities_just_inside_kplanes_limits_are_exact() -> None:
    assert str(parse_quantity("1e3999")) == "1e3999"
    assert parse_quantity("1e-2147483647").nanos == 1
    long_fraction = "0." + "0" * 3000 + "1"
    assert str(parse_quantity(long_fraction)) == "1n"
