from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.fee_operation import FeeOperation
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="FeeEstimate")



@_attrs_define
class FeeEstimate:
    """ A fee quote.

        Attributes:
            asset (None | str | Unset): Asset the fee is charged in, e.g. "USDT".
            base_fee_wei (None | str | Unset): Next block's base fee, integer string in wei; "0" on chains without one
                (BSC).
            expire_time (datetime.datetime | None | Unset): Until when the quote is valid.
            fee (None | str | Unset): Fee charged to the merchant, decimal string in token units; "0" until payout plans set
                one.
            fee_base_units (None | str | Unset): Fee charged to the merchant, integer string in base units; "0" until payout
                plans set one.
            gas_limit (None | str | Unset): Gas a one-line payout transaction uses (at most).
            gas_price_wei (None | str | Unset): Gas price a transaction pays now (next block's base fee plus tip, at least
                the chain's floor), integer string in wei.
            max_network_fee_wei (None | str | Unset): The most the network fee can reach before the quote expires (gas_limit
                * the EIP-1559 max fee per gas), integer string in wei (BNB).
            network_fee (None | str | Unset): Network fee, decimal string in BNB (18 decimals), e.g. "0.0000041814".
            network_fee_asset (None | str | Unset): Asset the network fee is paid in: "BNB".
            network_fee_wei (None | str | Unset): Network fee the gateway expects to pay (gas_limit * gas_price_wei),
                integer string in wei (BNB). Paid by the platform, not charged to the merchant.
            operation (FeeOperation | None | Unset): Operation quoted.
            priority_fee_wei (None | str | Unset): Tip per gas offered on top of the base fee, integer string in wei.
     """

    asset: None | str | Unset = UNSET
    base_fee_wei: None | str | Unset = UNSET
    expire_time: datetime.datetime | None | Unset = UNSET
    fee: None | str | Unset = UNSET
    fee_base_units: None | str | Unset = UNSET
    gas_limit: None | str | Unset = UNSET
    gas_price_wei: None | str | Unset = UNSET
    max_network_fee_wei: None | str | Unset = UNSET
    network_fee: None | str | Unset = UNSET
    network_fee_asset: None | str | Unset = UNSET
    network_fee_wei: None | str | Unset = UNSET
    operation: FeeOperation | None | Unset = UNSET
    priority_fee_wei: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        base_fee_wei: None | str | Unset
        if isinstance(self.base_fee_wei, Unset):
            base_fee_wei = UNSET
        else:
            base_fee_wei = self.base_fee_wei

        expire_time: None | str | Unset
        if isinstance(self.expire_time, Unset):
            expire_time = UNSET
        elif isinstance(self.expire_time, datetime.datetime):
            expire_time = self.expire_time.isoformat()
        else:
            expire_time = self.expire_time

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

        gas_limit: None | str | Unset
        if isinstance(self.gas_limit, Unset):
            gas_limit = UNSET
        else:
            gas_limit = self.gas_limit

        gas_price_wei: None | str | Unset
        if isinstance(self.gas_price_wei, Unset):
            gas_price_wei = UNSET
        else:
            gas_price_wei = self.gas_price_wei

        max_network_fee_wei: None | str | Unset
        if isinstance(self.max_network_fee_wei, Unset):
            max_network_fee_wei = UNSET
        else:
            max_network_fee_wei = self.max_network_fee_wei

        network_fee: None | str | Unset
        if isinstance(self.network_fee, Unset):
            network_fee = UNSET
        else:
            network_fee = self.network_fee

        network_fee_asset: None | str | Unset
        if isinstance(self.network_fee_asset, Unset):
            network_fee_asset = UNSET
        else:
            network_fee_asset = self.network_fee_asset

        network_fee_wei: None | str | Unset
        if isinstance(self.network_fee_wei, Unset):
            network_fee_wei = UNSET
        else:
            network_fee_wei = self.network_fee_wei

        operation: None | str | Unset
        if isinstance(self.operation, Unset):
            operation = UNSET
        elif isinstance(self.operation, FeeOperation):
            operation = self.operation.value
        else:
            operation = self.operation

        priority_fee_wei: None | str | Unset
        if isinstance(self.priority_fee_wei, Unset):
            priority_fee_wei = UNSET
        else:
            priority_fee_wei = self.priority_fee_wei


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if asset is not UNSET:
            field_dict["asset"] = asset
        if base_fee_wei is not UNSET:
            field_dict["base_fee_wei"] = base_fee_wei
        if expire_time is not UNSET:
            field_dict["expire_time"] = expire_time
        if fee is not UNSET:
            field_dict["fee"] = fee
        if fee_base_units is not UNSET:
            field_dict["fee_base_units"] = fee_base_units
        if gas_limit is not UNSET:
            field_dict["gas_limit"] = gas_limit
        if gas_price_wei is not UNSET:
            field_dict["gas_price_wei"] = gas_price_wei
        if max_network_fee_wei is not UNSET:
            field_dict["max_network_fee_wei"] = max_network_fee_wei
        if network_fee is not UNSET:
            field_dict["network_fee"] = network_fee
        if network_fee_asset is not UNSET:
            field_dict["network_fee_asset"] = network_fee_asset
        if network_fee_wei is not UNSET:
            field_dict["network_fee_wei"] = network_fee_wei
        if operation is not UNSET:
            field_dict["operation"] = operation
        if priority_fee_wei is not UNSET:
            field_dict["priority_fee_wei"] = priority_fee_wei

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


        def _parse_base_fee_wei(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        base_fee_wei = _parse_base_fee_wei(d.pop("base_fee_wei", UNSET))


        def _parse_expire_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expire_time_type_0 = datetime.datetime.fromisoformat(data)



                return expire_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expire_time = _parse_expire_time(d.pop("expire_time", UNSET))


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


        def _parse_gas_limit(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gas_limit = _parse_gas_limit(d.pop("gas_limit", UNSET))


        def _parse_gas_price_wei(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        gas_price_wei = _parse_gas_price_wei(d.pop("gas_price_wei", UNSET))


        def _parse_max_network_fee_wei(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        max_network_fee_wei = _parse_max_network_fee_wei(d.pop("max_network_fee_wei", UNSET))


        def _parse_network_fee(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        network_fee = _parse_network_fee(d.pop("network_fee", UNSET))


        def _parse_network_fee_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        network_fee_asset = _parse_network_fee_asset(d.pop("network_fee_asset", UNSET))


        def _parse_network_fee_wei(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        network_fee_wei = _parse_network_fee_wei(d.pop("network_fee_wei", UNSET))


        def _parse_operation(data: object) -> FeeOperation | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                operation_type_1 = FeeOperation(data)



                return operation_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(FeeOperation | None | Unset, data)

        operation = _parse_operation(d.pop("operation", UNSET))


        def _parse_priority_fee_wei(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        priority_fee_wei = _parse_priority_fee_wei(d.pop("priority_fee_wei", UNSET))


        fee_estimate = cls(
            asset=asset,
            base_fee_wei=base_fee_wei,
            expire_time=expire_time,
            fee=fee,
            fee_base_units=fee_base_units,
            gas_limit=gas_limit,
            gas_price_wei=gas_price_wei,
            max_network_fee_wei=max_network_fee_wei,
            network_fee=network_fee,
            network_fee_asset=network_fee_asset,
            network_fee_wei=network_fee_wei,
            operation=operation,
            priority_fee_wei=priority_fee_wei,
        )

        return fee_estimate

