"""Exact token amounts: decimal strings in token units or base units to integers and back.

Amounts are integers of base units everywhere inside the ledger (USDT on BNB Smart Chain has 18 decimals, so
"10.5" is 10_500_000_000_000_000_000). Conversion is string arithmetic on digits: no float, no Decimal
context, no rounding. An amount with more fractional digits than the token has is refused, never rounded,
so what a merchant asks for is exactly what the invoice records.
"""

from __future__ import annotations

import re

from ledger.errors import InvalidAmount

UINT256_MAX = 2**256 - 1
"""The largest amount an ERC-20 token can represent, the default upper bound."""

MAX_AMOUNT_LENGTH = 100
"""Longest amount string accepted; longer input is refused before any parsing work."""

# `fullmatch` with explicit ASCII digit classes: `$` would accept a trailing newline, `\d` Unicode digits.
_TOKEN_UNITS = re.compile(r"(?P<whole>0|[1-9][0-9]*)(?:\.(?P<fraction>[0-9]+))?")
_BASE_UNITS = re.compile(r"0|[1-9][0-9]*")


def parse_amount(text: str, decimals: int, *, field: str = "amount", max_base_units: int = UINT256_MAX) -> int:
    """Parse an exact decimal string in token units ("10.50") into a positive integer of base units.

    Raises `InvalidAmount` (INVALID_ARGUMENT, metadata `field`) with reason AMOUNT_INVALID (not of the form
    `123` or `123.45`), AMOUNT_TOO_PRECISE (more fractional digits than `decimals`), AMOUNT_NOT_POSITIVE
    (zero) or AMOUNT_TOO_LARGE (above `max_base_units`).
    """
    _check_decimals(decimals)
    _check_length(text, field)
    match = _TOKEN_UNITS.fullmatch(text)
    if match is None:
        raise InvalidAmount(
            f"{field} must be a decimal number in token units like 10 or 10.50: digits, optionally one '.' "
            "followed by digits, no sign, exponent, spaces or leading zeros",
            reason="AMOUNT_INVALID",
            field=field,
        )
    whole, fraction = match["whole"], match["fraction"] or ""
    if len(fraction) > decimals:
        raise InvalidAmount(
            f"{field} has {len(fraction)} decimal places but the token has {decimals}; amounts are never rounded",
            reason="AMOUNT_TOO_PRECISE",
            field=field,
            metadata={"maxDecimals": str(decimals)},
        )
    base_units = int(whole + fraction.ljust(decimals, "0"))
    _check_range(base_units, field, max_base_units, decimals=decimals)
    return base_units


def parse_base_units(text: str, *, field: str, max_base_units: int = UINT256_MAX) -> int:
    """Parse an integer string of base units ("10500000") into a positive integer.

    Raises `InvalidAmount` with the same reasons as `parse_amount` (AMOUNT_INVALID for anything but plain
    digits without leading zeros, AMOUNT_NOT_POSITIVE, AMOUNT_TOO_LARGE).
    """
    _check_length(text, field)
    if _BASE_UNITS.fullmatch(text) is None:
        raise InvalidAmount(
            f"{field} must be a whole number of base units like 10500000: digits only, no sign, decimal "
            "point, exponent, spaces or leading zeros",
            reason="AMOUNT_INVALID",
            field=field,
        )
    base_units = int(text)
    _check_range(base_units, field, max_base_units)
    return base_units


def format_amount(base_units: int, decimals: int) -> str:
    """Format base units as the canonical token-unit string: "10.5", "10", "0.000001", "-3.25".

    No trailing zeros in the fraction and no trailing dot; negative amounts (reversals) get a leading "-".
    For every positive `x` that `parse_amount` accepts, `parse_amount(format_amount(x, d), d) == x`.
    """
    _check_decimals(decimals)
    sign = "-" if base_units < 0 else ""
    whole, fraction = divmod(abs(base_units), 10**decimals)
    fraction_digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{sign}{whole}.{fraction_digits}" if fraction_digits else f"{sign}{whole}"


def _check_decimals(decimals: int) -> None:
    # A token's decimals come from config, not from a request: a bad value is a programming error.
    if decimals < 0:
        raise ValueError(f"decimals must be >= 0, got {decimals}")


def _check_length(text: str, field: str) -> None:
    if len(text) > MAX_AMOUNT_LENGTH:
        raise InvalidAmount(
            f"{field} is longer than {MAX_AMOUNT_LENGTH} characters",
            reason="AMOUNT_INVALID",
            field=field,
            metadata={"maxLength": str(MAX_AMOUNT_LENGTH)},
        )


def _check_range(base_units: int, field: str, max_base_units: int, *, decimals: int | None = None) -> None:
    """Refuse zero and amounts above the maximum; `decimals` is given when the caller wrote token units."""
    if base_units == 0:
        raise InvalidAmount(f"{field} must be greater than zero", reason="AMOUNT_NOT_POSITIVE", field=field)
    if base_units > max_base_units:
        # The maximum in the unit the caller wrote in, and always in base units so clients can compare either way.
        limit = {"maxBaseUnits": str(max_base_units)}
        if decimals is not None:
            limit["maxAmount"] = format_amount(max_base_units, decimals)
        raise InvalidAmount(
            f"{field} is larger than the maximum {limit.get('maxAmount', limit['maxBaseUnits'])}",
            reason="AMOUNT_TOO_LARGE",
            field=field,
            metadata=limit,
        )


def parse_non_negative_amount(text: str, decimals: int, *, field: str) -> int:
    """Like `parse_amount`, but zero ("0", "0.00") is allowed: for tolerances and limits that may be off."""
    if re.fullmatch(r"0(\.0+)?", text):
        return 0
    return parse_amount(text, decimals, field=field)
