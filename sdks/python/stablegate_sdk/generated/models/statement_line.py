from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="StatementLine")



@_attrs_define
class StatementLine:
    """ One journal transaction on a statement.

        Attributes:
            balance (None | str | Unset): Balance after it, token units.
            balance_base_units (None | str | Unset): Balance after it, base units.
            category (None | str | Unset): Which total it counts in: PAYMENT (payments and fees), PAYOUT (payouts and fees),
                REFUND, or ADJUSTMENT (a reversal, with the fee it gives back, or any other posting).
            fee (None | str | Unset): Platform fee on it (negative: given back), token units.
            fee_base_units (None | str | Unset): Fee, base units.
            gross (None | str | Unset): Gross amount (before the fee), signed, token units.
            gross_base_units (None | str | Unset): Gross, base units.
            journal_kind (None | str | Unset): The journal transaction's kind, e.g. "payment_final", "payout_confirmed".
            net (None | str | Unset): What it did to the balance (gross - fee), signed, token units.
            net_base_units (None | str | Unset): Net, base units.
            reference (None | str | Unset): The invoice, payout or refund it belongs to; empty when none.
            time (datetime.datetime | None | Unset): When it was posted.
            transaction_id (None | str | Unset): The journal transaction id.
     """

    balance: None | str | Unset = UNSET
    balance_base_units: None | str | Unset = UNSET
    category: None | str | Unset = UNSET
    fee: None | str | Unset = UNSET
    fee_base_units: None | str | Unset = UNSET
    gross: None | str | Unset = UNSET
    gross_base_units: None | str | Unset = UNSET
    journal_kind: None | str | Unset = UNSET
    net: None | str | Unset = UNSET
    net_base_units: None | str | Unset = UNSET
    reference: None | str | Unset = UNSET
    time: datetime.datetime | None | Unset = UNSET
    transaction_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        balance: None | str | Unset
        if isinstance(self.balance, Unset):
            balance = UNSET
        else:
            balance = self.balance

        balance_base_units: None | str | Unset
        if isinstance(self.balance_base_units, Unset):
            balance_base_units = UNSET
        else:
            balance_base_units = self.balance_base_units

        category: None | str | Unset
        if isinstance(self.category, Unset):
            category = UNSET
        else:
            category = self.category

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

        gross: None | str | Unset
        if isinstance(self.gross, Unset):
            gross = UNSET
        else:
            gross = self.gross

        gross_base_units: None | str | Unset
        if isinstance(self.gross_base_units, Unset):
            gross_base_units = UNSET
        else:
            gross_base_units = self.gross_base_units

        journal_kind: None | str | Unset
        if isinstance(self.journal_kind, Unset):
            journal_kind = UNSET
        else:
            journal_kind = self.journal_kind

        net: None | str | Unset
        if isinstance(self.net, Unset):
            net = UNSET
        else:
            net = self.net

        net_base_units: None | str | Unset
        if isinstance(self.net_base_units, Unset):
            net_base_units = UNSET
        else:
            net_base_units = self.net_base_units

        reference: None | str | Unset
        if isinstance(self.reference, Unset):
            reference = UNSET
        else:
            reference = self.reference

        time: None | str | Unset
        if isinstance(self.time, Unset):
            time = UNSET
        elif isinstance(self.time, datetime.datetime):
            time = self.time.isoformat()
        else:
            time = self.time

        transaction_id: None | str | Unset
        if isinstance(self.transaction_id, Unset):
            transaction_id = UNSET
        else:
            transaction_id = self.transaction_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if balance is not UNSET:
            field_dict["balance"] = balance
        if balance_base_units is not UNSET:
            field_dict["balance_base_units"] = balance_base_units
        if category is not UNSET:
            field_dict["category"] = category
        if fee is not UNSET:
            field_dict["fee"] = fee
        if fee_base_units is not UNSET:
            field_dict["fee_base_units"] = fee_base_units
        if gross is not UNSET:
            field_dict["gross"] = gross
        if gross_base_units is not UNSET:
            field_dict["gross_base_units"] = gross_base_units
        if journal_kind is not UNSET:
            field_dict["journal_kind"] = journal_kind
        if net is not UNSET:
            field_dict["net"] = net
        if net_base_units is not UNSET:
            field_dict["net_base_units"] = net_base_units
        if reference is not UNSET:
            field_dict["reference"] = reference
        if time is not UNSET:
            field_dict["time"] = time
        if transaction_id is not UNSET:
            field_dict["transaction_id"] = transaction_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_balance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        balance = _parse_balance(d.pop("balance", UNSET))


        def _parse_balance_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        balance_base_units = _parse_balance_base_units(d.pop("balance_base_units", UNSET))


        def _parse_category(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        category = _parse_category(d.pop("category", UNSET))


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


        def _parse_gross(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gross = _parse_gross(d.pop("gross", UNSET))


        def _parse_gross_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gross_base_units = _parse_gross_base_units(d.pop("gross_base_units", UNSET))


        def _parse_journal_kind(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        journal_kind = _parse_journal_kind(d.pop("journal_kind", UNSET))


        def _parse_net(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        net = _parse_net(d.pop("net", UNSET))


        def _parse_net_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        net_base_units = _parse_net_base_units(d.pop("net_base_units", UNSET))


        def _parse_reference(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reference = _parse_reference(d.pop("reference", UNSET))


        def _parse_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                time_type_0 = datetime.datetime.fromisoformat(data)



                return time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        time = _parse_time(d.pop("time", UNSET))


        def _parse_transaction_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        transaction_id = _parse_transaction_id(d.pop("transaction_id", UNSET))


        statement_line = cls(
            balance=balance,
            balance_base_units=balance_base_units,
            category=category,
            fee=fee,
            fee_base_units=fee_base_units,
            gross=gross,
            gross_base_units=gross_base_units,
            journal_kind=journal_kind,
            net=net,
            net_base_units=net_base_units,
            reference=reference,
            time=time,
            transaction_id=transaction_id,
        )

        return statement_line

