from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="CreateRefundRequest")



@_attrs_define
class CreateRefundRequest:
    """ Request to refund an invoice.

        Attributes:
            invoice_id (str): The invoice to refund.
            refund_address (str): Address receiving the refund (0x-prefixed; checksum verified when mixed case).
            amount (None | str | Unset): Amount to refund, exact decimal string in token units; empty: everything still
                refundable.
            reason (None | str | Unset): Why (up to 500 characters).
            request_id (None | str | Unset): Client-chosen idempotency key; the same key with other content fails with
                ALREADY_EXISTS.
     """

    invoice_id: str
    refund_address: str
    amount: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        invoice_id = self.invoice_id

        refund_address = self.refund_address

        amount: None | str | Unset
        if isinstance(self.amount, Unset):
            amount = UNSET
        else:
            amount = self.amount

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "invoice_id": invoice_id,
            "refund_address": refund_address,
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if reason is not UNSET:
            field_dict["reason"] = reason
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        invoice_id = d.pop("invoice_id")

        refund_address = d.pop("refund_address")

        def _parse_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount = _parse_amount(d.pop("amount", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        create_refund_request = cls(
            invoice_id=invoice_id,
            refund_address=refund_address,
            amount=amount,
            reason=reason,
            request_id=request_id,
        )

        return create_refund_request

