from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset







T = TypeVar("T", bound="SettlementAddressServiceRevokeSettlementAddressBody")



@_attrs_define
class SettlementAddressServiceRevokeSettlementAddressBody:
    """ Request to revoke a settlement address.

     """






    def to_dict(self) -> dict[str, Any]:
        
        field_dict: dict[str, Any] = {}


        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        settlement_address_service_revoke_settlement_address_body = cls(
        )

        return settlement_address_service_revoke_settlement_address_body

