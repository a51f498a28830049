from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.payment_status import PaymentStatus
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="Payment")



@_attrs_define
class Payment:
    """ One on-chain token transfer to an invoice's deposit address.

        Attributes:
            amount (None | str | Unset): Amount transferred, decimal string in token units.
            amount_base_units (None | str | Unset): Amount transferred, integer string in base units.
            block_hash (None | str | Unset): Hash of the block holding the transfer (0x-prefixed hex).
            block_number (None | str | Unset): Number of the block holding the transfer.
            block_time (datetime.datetime | None | Unset): Timestamp of the block holding the transfer (when the watcher
                reports it).
            detect_time (datetime.datetime | None | Unset): When the gateway first saw the transfer.
            final_time (datetime.datetime | None | Unset): When the block became final and the payment was credited; unset
                until then.
            from_address (None | str | Unset): Sender address (informational only; payments are never matched on the
                sender).
            id (None | str | Unset): Unique payment id, e.g. "pay_01HV...".
            log_index (int | None | Unset): Index of the Transfer log within its block.
            reverse_time (datetime.datetime | None | Unset): When a reorg dropped the payment and it was reversed; unset
                otherwise (not recorded yet: always unset).
            status (None | PaymentStatus | Unset): Finality status of the payment.
            tx_hash (None | str | Unset): Transaction hash (0x-prefixed hex).
     """

    amount: None | str | Unset = UNSET
    amount_base_units: None | str | Unset = UNSET
    block_hash: None | str | Unset = UNSET
    block_number: None | str | Unset = UNSET
    block_time: datetime.datetime | None | Unset = UNSET
    detect_time: datetime.datetime | None | Unset = UNSET
    final_time: datetime.datetime | None | Unset = UNSET
    from_address: None | str | Unset = UNSET
    id: None | str | Unset = UNSET
    log_index: int | None | Unset = UNSET
    reverse_time: datetime.datetime | None | Unset = UNSET
    status: None | PaymentStatus | Unset = UNSET
    tx_hash: None | str | Unset = UNSET





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

        block_hash: None | str | Unset
        if isinstance(self.block_hash, Unset):
            block_hash = UNSET
        else:
            block_hash = self.block_hash

        block_number: None | str | Unset
        if isinstance(self.block_number, Unset):
            block_number = UNSET
        else:
            block_number = self.block_number

        block_time: None | str | Unset
        if isinstance(self.block_time, Unset):
            block_time = UNSET
        elif isinstance(self.block_time, datetime.datetime):
            block_time = self.block_time.isoformat()
        else:
            block_time = self.block_time

        detect_time: None | str | Unset
        if isinstance(self.detect_time, Unset):
            detect_time = UNSET
        elif isinstance(self.detect_time, datetime.datetime):
            detect_time = self.detect_time.isoformat()
        else:
            detect_time = self.detect_time

        final_time: None | str | Unset
        if isinstance(self.final_time, Unset):
            final_time = UNSET
        elif isinstance(self.final_time, datetime.datetime):
            final_time = self.final_time.isoformat()
        else:
            final_time = self.final_time

        from_address: None | str | Unset
        if isinstance(self.from_address, Unset):
            from_address = UNSET
        else:
            from_address = self.from_address

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        log_index: int | None | Unset
        if isinstance(self.log_index, Unset):
            log_index = UNSET
        else:
            log_index = self.log_index

        reverse_time: None | str | Unset
        if isinstance(self.reverse_time, Unset):
            reverse_time = UNSET
        elif isinstance(self.reverse_time, datetime.datetime):
            reverse_time = self.reverse_time.isoformat()
        else:
            reverse_time = self.reverse_time

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, PaymentStatus):
            status = self.status.value
        else:
            status = self.status

        tx_hash: None | str | Unset
        if isinstance(self.tx_hash, Unset):
            tx_hash = UNSET
        else:
            tx_hash = self.tx_hash


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if amount_base_units is not UNSET:
            field_dict["amount_base_units"] = amount_base_units
        if block_hash is not UNSET:
            field_dict["block_hash"] = block_hash
        if block_number is not UNSET:
            field_dict["block_number"] = block_number
        if block_time is not UNSET:
            field_dict["block_time"] = block_time
        if detect_time is not UNSET:
            field_dict["detect_time"] = detect_time
        if final_time is not UNSET:
            field_dict["final_time"] = final_time
        if from_address is not UNSET:
            field_dict["from_address"] = from_address
        if id is not UNSET:
            field_dict["id"] = id
        if log_index is not UNSET:
            field_dict["log_index"] = log_index
        if reverse_time is not UNSET:
            field_dict["reverse_time"] = reverse_time
        if status is not UNSET:
            field_dict["status"] = status
        if tx_hash is not UNSET:
            field_dict["tx_hash"] = tx_hash

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


        def _parse_block_hash(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        block_hash = _parse_block_hash(d.pop("block_hash", UNSET))


        def _parse_block_number(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        block_number = _parse_block_number(d.pop("block_number", UNSET))


        def _parse_block_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                block_time_type_0 = datetime.datetime.fromisoformat(data)



                return block_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        block_time = _parse_block_time(d.pop("block_time", UNSET))


        def _parse_detect_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                detect_time_type_0 = datetime.datetime.fromisoformat(data)



                return detect_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        detect_time = _parse_detect_time(d.pop("detect_time", UNSET))


        def _parse_final_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                final_time_type_0 = datetime.datetime.fromisoformat(data)



                return final_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        final_time = _parse_final_time(d.pop("final_time", UNSET))


        def _parse_from_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        from_address = _parse_from_address(d.pop("from_address", UNSET))


        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_log_index(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        log_index = _parse_log_index(d.pop("log_index", UNSET))


        def _parse_reverse_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reverse_time_type_0 = datetime.datetime.fromisoformat(data)



                return reverse_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        reverse_time = _parse_reverse_time(d.pop("reverse_time", UNSET))


        def _parse_status(data: object) -> None | PaymentStatus | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = PaymentStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PaymentStatus | Unset, data)

        status = _parse_status(d.pop("status", UNSET))


        def _parse_tx_hash(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tx_hash = _parse_tx_hash(d.pop("tx_hash", UNSET))


        payment = cls(
            amount=amount,
            amount_base_units=amount_base_units,
            block_hash=block_hash,
            block_number=block_number,
            block_time=block_time,
            detect_time=detect_time,
            final_time=final_time,
            from_address=from_address,
            id=id,
            log_index=log_index,
            reverse_time=reverse_time,
            status=status,
            tx_hash=tx_hash,
        )

        return payment

