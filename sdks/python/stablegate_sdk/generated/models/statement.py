from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.statement_line import StatementLine





T = TypeVar("T", bound="Statement")



@_attrs_define
class Statement:
    """ One merchant's month. The balance is the merchant's money the platform holds: available plus reserved (a payout or
    refund not confirmed yet is still the merchant's) less receivable (what a reversal left the merchant owing). closing
    = opening + payments - fees - payouts - refunds + adjustments, exactly.

        Attributes:
            adjustments (None | str | Unset): Everything else, signed (credited payments reversed, admin postings), token
                units.
            adjustments_base_units (None | str | Unset): Adjustments, base units.
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            closing_balance (None | str | Unset): Balance at end_time (or now, for the current month), token units.
            closing_balance_base_units (None | str | Unset): Closing balance, base units.
            end_time (datetime.datetime | None | Unset): First instant of the next month (excluded).
            fees (None | str | Unset): Platform fees charged (payment fees and payout fees) less fees given back by
                reversals, token units.
            fees_base_units (None | str | Unset): Fees, base units.
            lines (list[StatementLine] | None | Unset): Each journal transaction that moved the balance, oldest first.
            merchant_id (None | str | Unset): Id of the merchant.
            month (None | str | Unset): The month, "YYYY-MM" (UTC).
            opening_balance (None | str | Unset): Balance at start_time, decimal string in token units.
            opening_balance_base_units (None | str | Unset): Balance at start_time, integer string in base units.
            payments (None | str | Unset): Payments credited at finality, gross (before platform fees), token units.
            payments_base_units (None | str | Unset): Payments credited, base units.
            payouts (None | str | Unset): Payouts confirmed (sent), their amounts without the fee, token units.
            payouts_base_units (None | str | Unset): Payouts, base units.
            refunds (None | str | Unset): Refunds confirmed (sent), token units.
            refunds_base_units (None | str | Unset): Refunds, base units.
            start_time (datetime.datetime | None | Unset): First instant of the month (included).
     """

    adjustments: None | str | Unset = UNSET
    adjustments_base_units: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    closing_balance: None | str | Unset = UNSET
    closing_balance_base_units: None | str | Unset = UNSET
    end_time: datetime.datetime | None | Unset = UNSET
    fees: None | str | Unset = UNSET
    fees_base_units: None | str | Unset = UNSET
    lines: list[StatementLine] | None | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    month: None | str | Unset = UNSET
    opening_balance: None | str | Unset = UNSET
    opening_balance_base_units: None | str | Unset = UNSET
    payments: None | str | Unset = UNSET
    payments_base_units: None | str | Unset = UNSET
    payouts: None | str | Unset = UNSET
    payouts_base_units: None | str | Unset = UNSET
    refunds: None | str | Unset = UNSET
    refunds_base_units: None | str | Unset = UNSET
    start_time: datetime.datetime | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.statement_line import StatementLine # noqa: PLC0415
        adjustments: None | str | Unset
        if isinstance(self.adjustments, Unset):
            adjustments = UNSET
        else:
            adjustments = self.adjustments

        adjustments_base_units: None | str | Unset
        if isinstance(self.adjustments_base_units, Unset):
            adjustments_base_units = UNSET
        else:
            adjustments_base_units = self.adjustments_base_units

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        closing_balance: None | str | Unset
        if isinstance(self.closing_balance, Unset):
            closing_balance = UNSET
        else:
            closing_balance = self.closing_balance

        closing_balance_base_units: None | str | Unset
        if isinstance(self.closing_balance_base_units, Unset):
            closing_balance_base_units = UNSET
        else:
            closing_balance_base_units = self.closing_balance_base_units

        end_time: None | str | Unset
        if isinstance(self.end_time, Unset):
            end_time = UNSET
        elif isinstance(self.end_time, datetime.datetime):
            end_time = self.end_time.isoformat()
        else:
            end_time = self.end_time

        fees: None | str | Unset
        if isinstance(self.fees, Unset):
            fees = UNSET
        else:
            fees = self.fees

        fees_base_units: None | str | Unset
        if isinstance(self.fees_base_units, Unset):
            fees_base_units = UNSET
        else:
            fees_base_units = self.fees_base_units

        lines: list[dict[str, Any]] | None | Unset
        if isinstance(self.lines, Unset):
            lines = UNSET
        elif isinstance(self.lines, list):
            lines = []
            for lines_type_0_item_data in self.lines:
                lines_type_0_item = lines_type_0_item_data.to_dict()
                lines.append(lines_type_0_item)


        else:
            lines = self.lines

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        month: None | str | Unset
        if isinstance(self.month, Unset):
            month = UNSET
        else:
            month = self.month

        opening_balance: None | str | Unset
        if isinstance(self.opening_balance, Unset):
            opening_balance = UNSET
        else:
            opening_balance = self.opening_balance

        opening_balance_base_units: None | str | Unset
        if isinstance(self.opening_balance_base_units, Unset):
            opening_balance_base_units = UNSET
        else:
            opening_balance_base_units = self.opening_balance_base_units

        payments: None | str | Unset
        if isinstance(self.payments, Unset):
            payments = UNSET
        else:
            payments = self.payments

        payments_base_units: None | str | Unset
        if isinstance(self.payments_base_units, Unset):
            payments_base_units = UNSET
        else:
            payments_base_units = self.payments_base_units

        payouts: None | str | Unset
        if isinstance(self.payouts, Unset):
            payouts = UNSET
        else:
            payouts = self.payouts

        payouts_base_units: None | str | Unset
        if isinstance(self.payouts_base_units, Unset):
            payouts_base_units = UNSET
        else:
            payouts_base_units = self.payouts_base_units

        refunds: None | str | Unset
        if isinstance(self.refunds, Unset):
            refunds = UNSET
        else:
            refunds = self.refunds

        refunds_base_units: None | str | Unset
        if isinstance(self.refunds_base_units, Unset):
            refunds_base_units = UNSET
        else:
            refunds_base_units = self.refunds_base_units

        start_time: None | str | Unset
        if isinstance(self.start_time, Unset):
            start_time = UNSET
        elif isinstance(self.start_time, datetime.datetime):
            start_time = self.start_time.isoformat()
        else:
            start_time = self.start_time


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if adjustments is not UNSET:
            field_dict["adjustments"] = adjustments
        if adjustments_base_units is not UNSET:
            field_dict["adjustments_base_units"] = adjustments_base_units
        if asset is not UNSET:
            field_dict["asset"] = asset
        if closing_balance is not UNSET:
            field_dict["closing_balance"] = closing_balance
        if closing_balance_base_units is not UNSET:
            field_dict["closing_balance_base_units"] = closing_balance_base_units
        if end_time is not UNSET:
            field_dict["end_time"] = end_time
        if fees is not UNSET:
            field_dict["fees"] = fees
        if fees_base_units is not UNSET:
            field_dict["fees_base_units"] = fees_base_units
        if lines is not UNSET:
            field_dict["lines"] = lines
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if month is not UNSET:
            field_dict["month"] = month
        if opening_balance is not UNSET:
            field_dict["opening_balance"] = opening_balance
        if opening_balance_base_units is not UNSET:
            field_dict["opening_balance_base_units"] = opening_balance_base_units
        if payments is not UNSET:
            field_dict["payments"] = payments
        if payments_base_units is not UNSET:
            field_dict["payments_base_units"] = payments_base_units
        if payouts is not UNSET:
            field_dict["payouts"] = payouts
        if payouts_base_units is not UNSET:
            field_dict["payouts_base_units"] = payouts_base_units
        if refunds is not UNSET:
            field_dict["refunds"] = refunds
        if refunds_base_units is not UNSET:
            field_dict["refunds_base_units"] = refunds_base_units
        if start_time is not UNSET:
            field_dict["start_time"] = start_time

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.statement_line import StatementLine # noqa: PLC0415
        d = dict(src_dict)
        def _parse_adjustments(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        adjustments = _parse_adjustments(d.pop("adjustments", UNSET))


        def _parse_adjustments_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        adjustments_base_units = _parse_adjustments_base_units(d.pop("adjustments_base_units", UNSET))


        def _parse_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_closing_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        closing_balance = _parse_closing_balance(d.pop("closing_balance", UNSET))


        def _parse_closing_balance_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        closing_balance_base_units = _parse_closing_balance_base_units(d.pop("closing_balance_base_units", UNSET))


        def _parse_end_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                end_time_type_0 = datetime.datetime.fromisoformat(data)



                return end_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        end_time = _parse_end_time(d.pop("end_time", UNSET))


        def _parse_fees(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fees = _parse_fees(d.pop("fees", UNSET))


        def _parse_fees_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fees_base_units = _parse_fees_base_units(d.pop("fees_base_units", UNSET))


        def _parse_lines(data: object) -> list[StatementLine] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                lines_type_0 = []
                _lines_type_0 = data
                for lines_type_0_item_data in (_lines_type_0):
                    lines_type_0_item = StatementLine.from_dict(lines_type_0_item_data)



                    lines_type_0.append(lines_type_0_item)

                return lines_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[StatementLine] | None | Unset, data)

        lines = _parse_lines(d.pop("lines", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_month(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        month = _parse_month(d.pop("month", UNSET))


        def _parse_opening_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        opening_balance = _parse_opening_balance(d.pop("opening_balance", UNSET))


        def _parse_opening_balance_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        opening_balance_base_units = _parse_opening_balance_base_units(d.pop("opening_balance_base_units", UNSET))


        def _parse_payments(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payments = _parse_payments(d.pop("payments", UNSET))


        def _parse_payments_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payments_base_units = _parse_payments_base_units(d.pop("payments_base_units", UNSET))


        def _parse_payouts(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payouts = _parse_payouts(d.pop("payouts", UNSET))


        def _parse_payouts_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payouts_base_units = _parse_payouts_base_units(d.pop("payouts_base_units", UNSET))


        def _parse_refunds(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        refunds = _parse_refunds(d.pop("refunds", UNSET))


        def _parse_refunds_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        refunds_base_units = _parse_refunds_base_units(d.pop("refunds_base_units", UNSET))


        def _parse_start_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                start_time_type_0 = datetime.datetime.fromisoformat(data)



                return start_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        start_time = _parse_start_time(d.pop("start_time", UNSET))


        statement = cls(
            adjustments=adjustments,
            adjustments_base_units=adjustments_base_units,
            asset=asset,
            closing_balance=closing_balance,
            closing_balance_base_units=closing_balance_base_units,
            end_time=end_time,
            fees=fees,
            fees_base_units=fees_base_units,
            lines=lines,
            merchant_id=merchant_id,
            month=month,
            opening_balance=opening_balance,
            opening_balance_base_units=opening_balance_base_units,
            payments=payments,
            payments_base_units=payments_base_units,
            payouts=payouts,
            payouts_base_units=payouts_base_units,
            refunds=refunds,
            refunds_base_units=refunds_base_units,
            start_time=start_time,
        )

        return statement

