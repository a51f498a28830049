from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="CreateSettlementAddressRequest")



@_attrs_define
class CreateSettlementAddressRequest:
    """ Request to register a settlement address.

        Attributes:
            address (str): The address (0x + 40 hex; checksum verified when mixed case).
            label (None | str | Unset): The merchant's own name for it (up to 100 characters).
            request_id (None | str | Unset): Client-chosen idempotency key; the same key with other content fails with
                ALREADY_EXISTS.
     """

    address: str
    label: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        address = self.address

        label: None | str | Unset
        if isinstance(self.label, Unset):
            label = UNSET
        else:
            label = self.label

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "address": address,
        })
        if label is not UNSET:
            field_dict["label"] = label
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        address = d.pop("address")

        def _parse_label(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        label = _parse_label(d.pop("label", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        create_settlement_address_request = cls(
            address=address,
            label=label,
            request_id=request_id,
        )

        return create_settlement_address_request

