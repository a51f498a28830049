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
  from ..models.asset_balance import AssetBalance





T = TypeVar("T", bound="Balance")



@_attrs_define
class Balance:
    """ A merchant's balance across assets.

        Attributes:
            as_of_time (datetime.datetime | None | Unset): Ledger time the figures are consistent at.
            assets (list[AssetBalance] | None | Unset): One entry per asset.
            merchant_id (None | str | Unset): Merchant id.
     """

    as_of_time: datetime.datetime | None | Unset = UNSET
    assets: list[AssetBalance] | None | Unset = UNSET
    merchant_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.asset_balance import AssetBalance # noqa: PLC0415
        as_of_time: None | str | Unset
        if isinstance(self.as_of_time, Unset):
            as_of_time = UNSET
        elif isinstance(self.as_of_time, datetime.datetime):
            as_of_time = self.as_of_time.isoformat()
        else:
            as_of_time = self.as_of_time

        assets: list[dict[str, Any]] | None | Unset
        if isinstance(self.assets, Unset):
            assets = UNSET
        elif isinstance(self.assets, list):
            assets = []
            for assets_type_0_item_data in self.assets:
                assets_type_0_item = assets_type_0_item_data.to_dict()
                assets.append(assets_type_0_item)


        else:
            assets = self.assets

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if as_of_time is not UNSET:
            field_dict["as_of_time"] = as_of_time
        if assets is not UNSET:
            field_dict["assets"] = assets
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.asset_balance import AssetBalance # noqa: PLC0415
        d = dict(src_dict)
        def _parse_as_of_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                as_of_time_type_0 = datetime.datetime.fromisoformat(data)



                return as_of_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        as_of_time = _parse_as_of_time(d.pop("as_of_time", UNSET))


        def _parse_assets(data: object) -> list[AssetBalance] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                assets_type_0 = []
                _assets_type_0 = data
                for assets_type_0_item_data in (_assets_type_0):
                    assets_type_0_item = AssetBalance.from_dict(assets_type_0_item_data)



                    assets_type_0.append(assets_type_0_item)

                return assets_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[AssetBalance] | None | Unset, data)

        assets = _parse_assets(d.pop("assets", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        balance = cls(
            as_of_time=as_of_time,
            assets=assets,
            merchant_id=merchant_id,
        )

        return balance

