from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.refund_status import RefundStatus
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="Refund")



@_attrs_define
class Refund:
    """ A refund of (part of) an invoice's credited money.

        Attributes:
            amount (None | str | Unset): Amount refunded, decimal string in token units.
            amount_base_units (None | str | Unset): Amount refunded, integer string in base units.
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            block_number (None | str | Unset): Block holding the transaction once final; 0 before.
            broadcast_time (datetime.datetime | None | Unset): When its transaction was broadcast; unset before.
            cancel_time (datetime.datetime | None | Unset): When it was canceled; unset otherwise.
            confirm_time (datetime.datetime | None | Unset): When its transaction became final; unset before.
            create_time (datetime.datetime | None | Unset): When the refund was created.
            failure_reason (None | str | Unset): Why the refund failed; empty otherwise.
            id (None | str | Unset): Unique refund id, e.g. "rf_01HV...".
            invoice_id (None | str | Unset): The invoice refunded.
            merchant_id (None | str | Unset): Id of the merchant that owns it.
            reason (None | str | Unset): Why, in the merchant's words.
            refund_address (None | str | Unset): Address receiving the refund (0x-prefixed, checksummed).
            status (None | RefundStatus | Unset): Status now.
            tx_hash (None | str | Unset): Transaction hash once broadcast.
            update_time (datetime.datetime | None | Unset): When it last changed.
     """

    amount: None | str | Unset = UNSET
    amount_base_units: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    block_number: None | str | Unset = UNSET
    broadcast_time: datetime.datetime | None | Unset = UNSET
    cancel_time: datetime.datetime | None | Unset = UNSET
    confirm_time: datetime.datetime | None | Unset = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    failure_reason: None | str | Unset = UNSET
    id: None | str | Unset = UNSET
    invoice_id: None | str | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    refund_address: None | str | Unset = UNSET
    status: None | RefundStatus | Unset = UNSET
    tx_hash: None | str | Unset = UNSET
    update_time: datetime.datetime | None | Unset = UNSET





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

        block_number: None | str | Unset
        if isinstance(self.block_number, Unset):
            block_number = UNSET
        else:
            block_number = self.block_number

        broadcast_time: None | str | Unset
        if isinstance(self.broadcast_time, Unset):
            broadcast_time = UNSET
        elif isinstance(self.broadcast_time, datetime.datetime):
            broadcast_time = self.broadcast_time.isoformat()
        else:
            broadcast_time = self.broadcast_time

        cancel_time: None | str | Unset
        if isinstance(self.cancel_time, Unset):
            cancel_time = UNSET
        elif isinstance(self.cancel_time, datetime.datetime):
            cancel_time = self.cancel_time.isoformat()
        else:
            cancel_time = self.cancel_time

        confirm_time: None | str | Unset
        if isinstance(self.confirm_time, Unset):
            confirm_time = UNSET
        elif isinstance(self.confirm_time, datetime.datetime):
            confirm_time = self.confirm_time.isoformat()
        else:
            confirm_time = self.confirm_time

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        failure_reason: None | str | Unset
        if isinstance(self.failure_reason, Unset):
            failure_reason = UNSET
        else:
            failure_reason = self.failure_reason

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        invoice_id: None | str | Unset
        if isinstance(self.invoice_id, Unset):
            invoice_id = UNSET
        else:
            invoice_id = self.invoice_id

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        refund_address: None | str | Unset
        if isinstance(self.refund_address, Unset):
            refund_address = UNSET
        else:
            refund_address = self.refund_address

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, RefundStatus):
            status = self.status.value
        else:
            status = self.status

        tx_hash: None | str | Unset
        if isinstance(self.tx_hash, Unset):
            tx_hash = UNSET
        else:
            tx_hash = self.tx_hash

        update_time: None | str | Unset
        if isinstance(self.update_time, Unset):
            update_time = UNSET
        elif isinstance(self.update_time, datetime.datetime):
            update_time = self.update_time.isoformat()
        else:
            update_time = self.update_time


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if amount_base_units is not UNSET:
            field_dict["amount_base_units"] = amount_base_units
        if asset is not UNSET:
            field_dict["asset"] = asset
        if block_number is not UNSET:
            field_dict["block_number"] = block_number
        if broadcast_time is not UNSET:
            field_dict["broadcast_time"] = broadcast_time
        if cancel_time is not UNSET:
            field_dict["cancel_time"] = cancel_time
        if confirm_time is not UNSET:
            field_dict["confirm_time"] = confirm_time
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if id is not UNSET:
            field_dict["id"] = id
        if invoice_id is not UNSET:
            field_dict["invoice_id"] = invoice_id
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if reason is not UNSET:
            field_dict["reason"] = reason
        if refund_address is not UNSET:
            field_dict["refund_address"] = refund_address
        if status is not UNSET:
            field_dict["status"] = status
        if tx_hash is not UNSET:
            field_dict["tx_hash"] = tx_hash
        if update_time is not UNSET:
            field_dict["update_time"] = update_time

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


        def _parse_block_number(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        block_number = _parse_block_number(d.pop("block_number", UNSET))


        def _parse_broadcast_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                broadcast_time_type_0 = datetime.datetime.fromisoformat(data)



                return broadcast_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        broadcast_time = _parse_broadcast_time(d.pop("broadcast_time", UNSET))


        def _parse_cancel_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cancel_time_type_0 = datetime.datetime.fromisoformat(data)



                return cancel_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        cancel_time = _parse_cancel_time(d.pop("cancel_time", UNSET))


        def _parse_confirm_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                confirm_time_type_0 = datetime.datetime.fromisoformat(data)



                return confirm_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        confirm_time = _parse_confirm_time(d.pop("confirm_time", UNSET))


        def _parse_create_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                create_time_type_0 = datetime.datetime.fromisoformat(data)



                return create_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        create_time = _parse_create_time(d.pop("create_time", UNSET))


        def _parse_failure_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason", UNSET))


        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_invoice_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        invoice_id = _parse_invoice_id(d.pop("invoice_id", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))


        def _parse_refund_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        refund_address = _parse_refund_address(d.pop("refund_address", UNSET))


        def _parse_status(data: object) -> None | RefundStatus | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = RefundStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RefundStatus | Unset, data)

        status = _parse_status(d.pop("status", UNSET))


        def _parse_tx_hash(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tx_hash = _parse_tx_hash(d.pop("tx_hash", UNSET))


        def _parse_update_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                update_time_type_0 = datetime.datetime.fromisoformat(data)



                return update_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        update_time = _parse_update_time(d.pop("update_time", UNSET))


        refund = cls(
            amount=amount,
            amount_base_units=amount_base_units,
            asset=asset,
            block_number=block_number,
            broadcast_time=broadcast_time,
            cancel_time=cancel_time,
            confirm_time=confirm_time,
            create_time=create_time,
            failure_reason=failure_reason,
            id=id,
            invoice_id=invoice_id,
            merchant_id=merchant_id,
            reason=reason,
            refund_address=refund_address,
            status=status,
            tx_hash=tx_hash,
            update_time=update_time,
        )

        return refund

