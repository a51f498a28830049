from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="AssetBalance")



@_attrs_define
class AssetBalance:
    """ Balance in one asset.

        Attributes:
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            available (None | str | Unset): Credited and free to pay out, decimal string in token units.
            available_base_units (None | str | Unset): Credited and free to pay out, integer string in base units.
            chain_id (None | str | Unset): EIP-155 chain id.
            pending (None | str | Unset): Seen on chain but not final yet, decimal string in token units.
            pending_base_units (None | str | Unset): Seen on chain but not final yet, integer string in base units.
            reserved (None | str | Unset): Held for payouts in progress (amount plus fee), decimal string in token units.
            reserved_base_units (None | str | Unset): Held for payouts in progress (amount plus fee), integer string in base
                units.
            token_contract (None | str | Unset): Token contract address.
     """

    asset: None | str | Unset = UNSET
    available: None | str | Unset = UNSET
    available_base_units: None | str | Unset = UNSET
    chain_id: None | str | Unset = UNSET
    pending: None | str | Unset = UNSET
    pending_base_units: None | str | Unset = UNSET
    reserved: None | str | Unset = UNSET
    reserved_base_units: None | str | Unset = UNSET
    token_contract: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
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

        chain_id: None | str | Unset
        if isinstance(self.chain_id, Unset):
            chain_id = UNSET
        else:
            chain_id = self.chain_id

        pending: None | str | Unset
        if isinstance(self.pending, Unset):
            pending = UNSET
        else:
            pending = self.pending

        pending_base_units: None | str | Unset
        if isinstance(self.pending_base_units, Unset):
            pending_base_units = UNSET
        else:
            pending_base_units = self.pending_base_units

        reserved: None | str | Unset
        if isinstance(self.reserved, Unset):
            reserved = UNSET
        else:
            reserved = self.reserved

        reserved_base_units: None | str | Unset
        if isinstance(self.reserved_base_units, Unset):
            reserved_base_units = UNSET
        else:
            reserved_base_units = self.reserved_base_units

        token_contract: None | str | Unset
        if isinstance(self.token_contract, Unset):
            token_contract = UNSET
        else:
            token_contract = self.token_contract


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if asset is not UNSET:
            field_dict["asset"] = asset
        if available is not UNSET:
            field_dict["available"] = available
        if available_base_units is not UNSET:
            field_dict["available_base_units"] = available_base_units
        if chain_id is not UNSET:
            field_dict["chain_id"] = chain_id
        if pending is not UNSET:
            field_dict["pending"] = pending
        if pending_base_units is not UNSET:
            field_dict["pending_base_units"] = pending_base_units
        if reserved is not UNSET:
            field_dict["reserved"] = reserved
        if reserved_base_units is not UNSET:
            field_dict["reserved_base_units"] = reserved_base_units
        if token_contract is not UNSET:
            field_dict["token_contract"] = token_contract

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
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


        def _parse_chain_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        chain_id = _parse_chain_id(d.pop("chain_id", UNSET))


        def _parse_pending(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pending = _parse_pending(d.pop("pending", UNSET))


        def _parse_pending_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pending_base_units = _parse_pending_base_units(d.pop("pending_base_units", UNSET))


        def _parse_reserved(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reserved = _parse_reserved(d.pop("reserved", UNSET))


        def _parse_reserved_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reserved_base_units = _parse_reserved_base_units(d.pop("reserved_base_units", UNSET))


        def _parse_token_contract(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        token_contract = _parse_token_contract(d.pop("token_contract", UNSET))


        asset_balance = cls(
            asset=asset,
            available=available,
            available_base_units=available_base_units,
            chain_id=chain_id,
            pending=pending,
            pending_base_units=pending_base_units,
            reserved=reserved,
            reserved_base_units=reserved_base_units,
            token_contract=token_contract,
        )

        return asset_balance

