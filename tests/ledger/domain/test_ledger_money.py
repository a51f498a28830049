"""Amounts: exact decimal strings in token units or base units to integers, and back, never rounded."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.money import MAX_AMOUNT_LENGTH, UINT256_MAX, format_amount, parse_amount, parse_base_units
from ledger.errors import InvalidAmount, InvalidArgument
from service_runtime.errors import ErrorKind

USDT_DECIMALS = 18


@pytest.mark.parametrize(
    ("text", "decimals", "base_units"),
    [
        ("10.50", 6, 10_500_000),
        ("10.5", 18, 10_500_000_000_000_000_000),
        ("0.000001", 6, 1),
        ("7", 6, 7_000_000),
        ("7", 0, 7),
        ("0.5", 1, 5),
        ("1.000000", 6, 1_000_000),
        ("0.000000000000000001", 18, 1),
        ("123456789.123456789123456789", 18, 123456789_123456789123456789),
    ],
)
def test_decimal_token_units_become_exact_base_units(text: str, decimals: int, base_units: int) -> None:
    assert parse_amount(text, decimals) == base_units


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "-1",
        "+1",
        "1e18",
        "1E3",
        " 1",
        "1 ",
        "1\n",
        "\t1",
        ".5",
        "5.",
        "1.2.3",
        "1,5",
        "1_000",
        "007",
        "00.5",
        "0x10",
        "NaN",
        "inf",
        "\u0661\u0662",  # Arabic-Indic digits: int() would accept them
        "\uff11",  # fullwidth digit one
    ],
)
def test_anything_but_plain_decimal_digits_is_amount_invalid(text: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount(text, USDT_DECIMALS)
    assert caught.value.reason == "AMOUNT_INVALID"
    assert caught.value.metadata["field"] == "amount"
    assert "10.50" in caught.value.message  # the message shows the expected form


def test_invalid_amount_is_an_invalid_argument_naming_the_request_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_amount("ten", 6, field="min_amount")
    assert caught.value.kind is ErrorKind.INVALID_ARGUMENT
    assert caught.value.metadata == {"field": "min_amount"}


def test_zero_with_a_leading_zero_fraction_is_accepted_as_a_form() -> None:
    assert parse_amount("0.5", 6) == 500_000
    assert parse_amount("0.05", 6) == 50_000


def test_more_decimals_than_the_token_is_rejected_not_rounded() -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1.0000001", 6)
    assert caught.value.reason == "AMOUNT_TOO_PRECISE"
    assert caught.value.metadata == {"field": "amount", "maxDecimals": "6"}


def test_trailing_zeros_beyond_the_token_decimals_still_count_as_too_precise() -> None:
    # The rule is about digits written, so a client learns the token's precision instead of relying on luck.
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1.5000000", 6)
    assert caught.value.reason == "AMOUNT_TOO_PRECISE"


def test_a_token_without_decimals_takes_whole_numbers_only() -> None:
    assert parse_amount("42", 0) == 42
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("42.0", 0)
    assert caught.value.reason == "AMOUNT_TOO_PRECISE"
    assert caught.value.metadata["maxDecimals"] == "0"


@pytest.mark.parametrize("text", ["0", "0.0", "0.000000"])
def test_zero_is_not_positive(text: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount(text, 6)
    assert caught.value.reason == "AMOUNT_NOT_POSITIVE"
    assert caught.value.metadata == {"field": "amount"}


def test_amount_above_the_maximum_is_too_large_and_names_the_limit() -> None:
    assert parse_amount("1000", 6, max_base_units=1_000_000_000) == 1_000_000_000
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1000.000001", 6, max_base_units=1_000_000_000)
    assert caught.value.reason == "AMOUNT_TOO_LARGE"
    assert caught.value.metadata == {"field": "amount", "maxAmount": "1000", "maxBaseUnits": "1000000000"}


def test_amount_beyond_uint256_is_too_large_by_default() -> None:
    largest = format_amount(UINT256_MAX, USDT_DECIMALS)
    assert parse_amount(largest, USDT_DECIMALS) == UINT256_MAX
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1" + "0" * 60, USDT_DECIMALS)
    assert caught.value.reason == "AMOUNT_TOO_LARGE"


def test_overlong_input_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_amount("1" * (MAX_AMOUNT_LENGTH + 1), USDT_DECIMALS)
    assert caught.value.reason == "AMOUNT_INVALID"
    assert caught.value.metadata == {"field": "amount", "maxLength": str(MAX_AMOUNT_LENGTH)}
    # A huge string costs nothing: it is rejected on length, not fed to int().
    with pytest.raises(InvalidAmount):
        parse_amount("9" * 1_000_000, USDT_DECIMALS)


def test_negative_token_decimals_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="decimals"):
        parse_amount("1", -1)
    with pytest.raises(ValueError, match="decimals"):
        format_amount(1, -1)


@pytest.mark.parametrize(("text", "base_units"), [("1", 1), ("10500000", 10_500_000), (str(UINT256_MAX), UINT256_MAX)])
def test_base_unit_strings_become_integers(text: str, base_units: int) -> None:
    assert parse_base_units(text, field="amount_base_units") == base_units


@pytest.mark.parametrize("text", ["", "1.0", "1.5", "-1", "+1", "1e6", "01", " 1", "1\n", "abc", "1_000", "\u0661"])
def test_base_units_must_be_plain_digits(text: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_base_units(text, field="amount_base_units")
    assert caught.value.reason == "AMOUNT_INVALID"
    assert caught.value.metadata == {"field": "amount_base_units"}


def test_base_units_zero_and_over_maximum_get_the_same_reasons_as_token_units() -> None:
    with pytest.raises(InvalidAmount) as zero:
        parse_base_units("0", field="amount_base_units")
    assert zero.value.reason == "AMOUNT_NOT_POSITIVE"
    with pytest.raises(InvalidAmount) as large:
        parse_base_units(str(UINT256_MAX + 1), field="amount_base_units")
    assert large.value.reason == "AMOUNT_TOO_LARGE"
    assert large.value.metadata == {"field": "amount_base_units", "maxBaseUnits": str(UINT256_MAX)}
    with pytest.raises(InvalidAmount) as long:
        parse_base_units("1" * (MAX_AMOUNT_LENGTH + 1), field="amount_base_units")
    assert long.value.reason == "AMOUNT_INVALID"


@pytest.mark.parametrize(
    ("base_units", "decimals", "text"),
    [
        (10_500_000, 6, "10.5"),
        (10_000_000, 6, "10"),
        (1, 6, "0.000001"),
        (0, 6, "0"),
        (10_500_000_000_000_000_000, 18, "10.5"),
        (7, 0, "7"),
        (-3_250_000, 6, "-3.25"),
        (-1, 6, "-0.000001"),
        (-10_000_000, 6, "-10"),
    ],
)
def test_format_gives_canonical_token_units_without_trailing_zeros(base_units: int, decimals: int, text: str) -> None:
    assert format_amount(base_units, decimals) == text


@given(base_units=st.integers(min_value=1, max_value=UINT256_MAX), decimals=st.integers(min_value=0, max_value=36))
def test_format_then_parse_round_trips_every_positive_amount(base_units: int, decimals: int) -> None:
    text = format_amount(base_units, decimals)
    assert re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?", text)
    assert parse_amount(text, decimals) == base_units


@given(base_units=st.integers(min_value=1, max_value=UINT256_MAX), decimals=st.integers(min_value=0, max_value=36))
def test_a_reversal_formats_as_the_amount_with_a_minus_sign(base_units: int, decimals: int) -> None:
    assert format_amount(-base_units, decimals) == "-" + format_amount(base_units, decimals)


@given(
    whole=st.integers(min_value=0, max_value=10**12),
    fraction=st.text(alphabet="0123456789", min_size=1, max_size=30),
    decimals=st.integers(min_value=0, max_value=30),
)
def test_parsing_never_rounds(whole: int, fraction: str, decimals: int) -> None:
    text = f"{whole}.{fraction}"
    if len(fraction) > decimals:
        with pytest.raises(InvalidAmount) as caught:
            parse_amount(text, decimals)
        assert caught.value.reason == "AMOUNT_TOO_PRECISE"
        return
    # Accepted digits are scaled exactly: the integer is the written digits, nothing dropped or added.
    expected = int(str(whole) + fraction) * 10 ** (decimals - len(fraction))
    if expected == 0:
        with pytest.raises(InvalidAmount, match="greater than zero"):
            parse_amount(text, decimals)
    else:
        assert parse_amount(text, decimals) == expected
