from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="PayoutQuote")



@_attrs_define
class PayoutQuote:
    """ A payout quote.

        Attributes:
            amount (None | str | Unset): Amount the destination would receive, decimal string in token units.
            amount_base_units (None | str | Unset): Amount, integer string in base units.
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            available (None | str | Unset): The available balance now, decimal string in token units.
            available_base_units (None | str | Unset): The available balance now, integer string in base units.
            covered (bool | None | Unset): True when the available balance covers the total now (a payout may still be
                refused if it changes).
            fee (None | str | Unset): Fee charged on top of the amount, decimal string in token units.
            fee_base_units (None | str | Unset): Fee, integer string in base units.
            total (None | str | Unset): Amount plus fee: what the payout would take from the available balance, decimal
                string in token units.
            total_base_units (None | str | Unset): Amount plus fee, integer string in base units.
     """

    amount: None | str | Unset = UNSET
    amount_base_units: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    available: None | str | Unset = UNSET
    available_base_units: None | str | Unset = UNSET
    covered: bool | None | Unset = UNSET
    fee: None | str | Unset = UNSET
    fee_base_units: None | str | Unset = UNSET
    total: None | str | Unset = UNSET
    total_base_units: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        amount: None | str | Unset
        if isinstance(self.amount, Unset):
            amount = UNSET
        else:
            amount = self.amount

        amount_base_units: None | str | Unset
        if isinstance(self.amount_base_units, Unset):
            amount_base_units = UNSET
        else:
            amount_base_units = self.amount_base_units

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        available: None | str | Unset
        if isinstance(self.available, Unset):
            available = UNSET
        else:
            available = self.available

        available_base_units: None | str | Unset
        if isinstance(self.available_base_units, Unset):
            available_base_units = UNSET
        else:
            available_base_units = self.available_base_units

        covered: bool | None | Unset
        if isinstance(self.covered, Unset):
            covered = UNSET
        else:
            covered = self.covered

        fee: None | str | Unset
        if isinstance(self.fee, Unset):
            fee = UNSET
        else:
            fee = self.fee

        fee_base_units: None | str | Unset
        if isinstance(self.fee_base_units, Unset):
            fee_base_units = UNSET
        else:
            fee_base_units = self.fee_base_units

        total: None | str | Unset
        if isinstance(self.total, Unset):
            total = UNSET
        else:
            total = self.total

        total_base_units: None | str | Unset
        if isinstance(self.total_base_units, Unset):
            total_base_units = UNSET
        else:
            total_base_units = self.total_base_units


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if amount_base_units is not UNSET:
            field_dict["amount_base_units"] = amount_base_units
        if asset is not UNSET:
            field_dict["asset"] = asset
        if available is not UNSET:
            field_dict["available"] = available
        if available_base_units is not UNSET:
            field_dict["available_base_units"] = available_base_units
        if covered is not UNSET:
            field_dict["covered"] = covered
        if fee is not UNSET:
            field_dict["fee"] = fee
        if fee_base_units is not UNSET:
            field_dict["fee_base_units"] = fee_base_units
        if total is not UNSET:
            field_dict["total"] = total
        if total_base_units is not UNSET:
            field_dict["total_base_units"] = total_base_units

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount = _parse_amount(d.pop("amount", UNSET))


        def _parse_amount_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_base_units = _parse_amount_base_units(d.pop("amount_base_units", UNSET))


        def _parse_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_available(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        available = _parse_available(d.pop("available", UNSET))


        def _parse_available_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        available_base_units = _parse_available_base_units(d.pop("available_base_units", UNSET))


        def _parse_covered(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        covered = _parse_covered(d.pop("covered", UNSET))


        def _parse_fee(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fee = _parse_fee(d.pop("fee", UNSET))


        def _parse_fee_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fee_base_units = _parse_fee_base_units(d.pop("fee_base_units", UNSET))


        def _parse_total(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        total = _parse_total(d.pop("total", UNSET))


        def _parse_total_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        total_base_units = _parse_total_base_units(d.pop("total_base_units", UNSET))


        payout_quote = cls(
            amount=amount,
            amount_base_units=amount_base_units,
            asset=asset,
            available=available,
            available_base_units=available_base_units,
            covered=covered,
            fee=fee,
            fee_base_units=fee_base_units,
            total=total,
            total_base_units=total_base_units,
        )

        return payout_quote

