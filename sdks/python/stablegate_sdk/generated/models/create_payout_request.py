from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.create_payout_request_asset_type_1 import CreatePayoutRequestAssetType1
from ..models.create_payout_request_asset_type_2_type_1 import CreatePayoutRequestAssetType2Type1
from ..models.create_payout_request_asset_type_3_type_1 import CreatePayoutRequestAssetType3Type1
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.create_payout_request_metadata_type_0 import CreatePayoutRequestMetadataType0





T = TypeVar("T", bound="CreatePayoutRequest")



@_attrs_define
class CreatePayoutRequest:
    """ Request to create a payout.

        Attributes:
            amount (str): Amount to send, exact decimal string in token units (e.g. "250.00").
            destination_address (str): Address receiving the funds (0x-prefixed; checksum verified when mixed case): one of
                the merchant's ACTIVE settlement addresses.
            asset (CreatePayoutRequestAssetType1 | CreatePayoutRequestAssetType2Type1 | CreatePayoutRequestAssetType3Type1 |
                None | Unset): Asset symbol; "USDT" when empty.
            description (None | str | Unset): Free text for the merchant's own use.
            max_fee (None | str | Unset): Highest acceptable fee, decimal string in token units; rejected if the fee would
                be higher. No cap when empty.
            metadata (CreatePayoutRequestMetadataType0 | None | Unset): Merchant's own key/value data.
            request_id (None | str | Unset): Client-chosen idempotency key; the same key with other content fails with
                ALREADY_EXISTS.
     """

    amount: str
    destination_address: str
    asset: CreatePayoutRequestAssetType1 | CreatePayoutRequestAssetType2Type1 | CreatePayoutRequestAssetType3Type1 | None | Unset = UNSET
    description: None | str | Unset = UNSET
    max_fee: None | str | Unset = UNSET
    metadata: CreatePayoutRequestMetadataType0 | None | Unset = UNSET
    request_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.create_payout_request_metadata_type_0 import CreatePayoutRequestMetadataType0 # noqa: PLC0415
        amount = self.amount

        destination_address = self.destination_address

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        elif isinstance(self.asset, CreatePayoutRequestAssetType1):
            asset = self.asset.value
        elif isinstance(self.asset, CreatePayoutRequestAssetType2Type1):
            asset = self.asset.value
        elif isinstance(self.asset, CreatePayoutRequestAssetType3Type1):
            asset = self.asset.value
        else:
            asset = self.asset

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        max_fee: None | str | Unset
        if isinstance(self.max_fee, Unset):
            max_fee = UNSET
        else:
            max_fee = self.max_fee

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, CreatePayoutRequestMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "amount": amount,
            "destination_address": destination_address,
        })
        if asset is not UNSET:
            field_dict["asset"] = asset
        if description is not UNSET:
            field_dict["description"] = description
        if max_fee is not UNSET:
            field_dict["max_fee"] = max_fee
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_payout_request_metadata_type_0 import CreatePayoutRequestMetadataType0 # noqa: PLC0415
        d = dict(src_dict)
        amount = d.pop("amount")

        destination_address = d.pop("destination_address")

        def _parse_asset(data: object) -> CreatePayoutRequestAssetType1 | CreatePayoutRequestAssetType2Type1 | CreatePayoutRequestAssetType3Type1 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_1 = CreatePayoutRequestAssetType1(data)



                return asset_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_2_type_1 = CreatePayoutRequestAssetType2Type1(data)



                return asset_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_3_type_1 = CreatePayoutRequestAssetType3Type1(data)



                return asset_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreatePayoutRequestAssetType1 | CreatePayoutRequestAssetType2Type1 | CreatePayoutRequestAssetType3Type1 | None | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_max_fee(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        max_fee = _parse_max_fee(d.pop("max_fee", UNSET))


        def _parse_metadata(data: object) -> CreatePayoutRequestMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = CreatePayoutRequestMetadataType0.from_dict(data)



                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreatePayoutRequestMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        create_payout_request = cls(
            amount=amount,
            destination_address=destination_address,
            asset=asset,
            description=description,
            max_fee=max_fee,
            metadata=metadata,
            request_id=request_id,
        )

        return create_payout_request

