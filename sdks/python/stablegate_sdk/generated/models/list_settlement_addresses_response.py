from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.settlement_address import SettlementAddress





T = TypeVar("T", bound="ListSettlementAddressesResponse")



@_attrs_define
class ListSettlementAddressesResponse:
    """ A page of settlement addresses.

        Attributes:
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
            settlement_addresses (list[SettlementAddress] | None | Unset): Addresses, newest first.
     """

    next_page_token: None | str | Unset = UNSET
    settlement_addresses: list[SettlementAddress] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.settlement_address import SettlementAddress # noqa: PLC0415
        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token

        settlement_addresses: list[dict[str, Any]] | None | Unset
        if isinstance(self.settlement_addresses, Unset):
            settlement_addresses = UNSET
        elif isinstance(self.settlement_addresses, list):
            settlement_addresses = []
            for settlement_addresses_type_0_item_data in self.settlement_addresses:
                settlement_addresses_type_0_item = settlement_addresses_type_0_item_data.to_dict()
                settlement_addresses.append(settlement_addresses_type_0_item)


        else:
            settlement_addresses = self.settlement_addresses


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token
        if settlement_addresses is not UNSET:
            field_dict["settlement_addresses"] = settlement_addresses

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.settlement_address import SettlementAddress # noqa: PLC0415
        d = dict(src_dict)
        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        def _parse_settlement_addresses(data: object) -> list[SettlementAddress] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                settlement_addresses_type_0 = []
                _settlement_addresses_type_0 = data
                for settlement_addresses_type_0_item_data in (_settlement_addresses_type_0):
                    settlement_addresses_type_0_item = SettlementAddress.from_dict(settlement_addresses_type_0_item_data)



                    settlement_addresses_type_0.append(settlement_addresses_type_0_item)

                return settlement_addresses_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[SettlementAddress] | None | Unset, data)

        settlement_addresses = _parse_settlement_addresses(d.pop("settlement_addresses", UNSET))


        list_settlement_addresses_response = cls(
            next_page_token=next_page_token,
            settlement_addresses=settlement_addresses,
        )

        return list_settlement_addresses_response

