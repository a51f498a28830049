from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.settlement_address_confirmation import SettlementAddressConfirmation
from ..models.settlement_address_status import SettlementAddressStatus
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="SettlementAddress")



@_attrs_define
class SettlementAddress:
    """ An address the merchant's payouts may go to.

        Attributes:
            address (None | str | Unset): The address (0x-prefixed, checksummed).
            confirm_time (datetime.datetime | None | Unset): When it was confirmed; unset before.
            confirmed_by (None | SettlementAddressConfirmation | Unset): How it was confirmed; unspecified while
                unconfirmed.
            cooling_off_end_time (datetime.datetime | None | Unset): When its cooling-off period ends (it is usable from
                then on if confirmed).
            create_time (datetime.datetime | None | Unset): When it was registered.
            id (None | str | Unset): Unique id, e.g. "sad_01HV...".
            label (None | str | Unset): The merchant's own name for it.
            merchant_id (None | str | Unset): Id of the merchant that owns it.
            revoke_time (datetime.datetime | None | Unset): When it was revoked; unset otherwise.
            status (None | SettlementAddressStatus | Unset): Status now.
     """

    address: None | str | Unset = UNSET
    confirm_time: datetime.datetime | None | Unset = UNSET
    confirmed_by: None | SettlementAddressConfirmation | Unset = UNSET
    cooling_off_end_time: datetime.datetime | None | Unset = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    id: None | str | Unset = UNSET
    label: None | str | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    revoke_time: datetime.datetime | None | Unset = UNSET
    status: None | SettlementAddressStatus | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        address: None | str | Unset
        if isinstance(self.address, Unset):
            address = UNSET
        else:
            address = self.address

        confirm_time: None | str | Unset
        if isinstance(self.confirm_time, Unset):
            confirm_time = UNSET
        elif isinstance(self.confirm_time, datetime.datetime):
            confirm_time = self.confirm_time.isoformat()
        else:
            confirm_time = self.confirm_time

        confirmed_by: None | str | Unset
        if isinstance(self.confirmed_by, Unset):
            confirmed_by = UNSET
        elif isinstance(self.confirmed_by, SettlementAddressConfirmation):
            confirmed_by = self.confirmed_by.value
        else:
            confirmed_by = self.confirmed_by

        cooling_off_end_time: None | str | Unset
        if isinstance(self.cooling_off_end_time, Unset):
            cooling_off_end_time = UNSET
        elif isinstance(self.cooling_off_end_time, datetime.datetime):
            cooling_off_end_time = self.cooling_off_end_time.isoformat()
        else:
            cooling_off_end_time = self.cooling_off_end_time

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        label: None | str | Unset
        if isinstance(self.label, Unset):
            label = UNSET
        else:
            label = self.label

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        revoke_time: None | str | Unset
        if isinstance(self.revoke_time, Unset):
            revoke_time = UNSET
        elif isinstance(self.revoke_time, datetime.datetime):
            revoke_time = self.revoke_time.isoformat()
        else:
            revoke_time = self.revoke_time

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, SettlementAddressStatus):
            status = self.status.value
        else:
            status = self.status


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if address is not UNSET:
            field_dict["address"] = address
        if confirm_time is not UNSET:
            field_dict["confirm_time"] = confirm_time
        if confirmed_by is not UNSET:
            field_dict["confirmed_by"] = confirmed_by
        if cooling_off_end_time is not UNSET:
            field_dict["cooling_off_end_time"] = cooling_off_end_time
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if id is not UNSET:
            field_dict["id"] = id
        if label is not UNSET:
            field_dict["label"] = label
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if revoke_time is not UNSET:
            field_dict["revoke_time"] = revoke_time
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        address = _parse_address(d.pop("address", UNSET))


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


        def _parse_confirmed_by(data: object) -> None | SettlementAddressConfirmation | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                confirmed_by_type_1 = SettlementAddressConfirmation(data)



                return confirmed_by_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SettlementAddressConfirmation | Unset, data)

        confirmed_by = _parse_confirmed_by(d.pop("confirmed_by", UNSET))


        def _parse_cooling_off_end_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cooling_off_end_time_type_0 = datetime.datetime.fromisoformat(data)



                return cooling_off_end_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        cooling_off_end_time = _parse_cooling_off_end_time(d.pop("cooling_off_end_time", UNSET))


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


        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_label(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        label = _parse_label(d.pop("label", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_revoke_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                revoke_time_type_0 = datetime.datetime.fromisoformat(data)



                return revoke_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        revoke_time = _parse_revoke_time(d.pop("revoke_time", UNSET))


        def _parse_status(data: object) -> None | SettlementAddressStatus | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = SettlementAddressStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SettlementAddressStatus | Unset, data)

        status = _parse_status(d.pop("status", UNSET))


        settlement_address = cls(
            address=address,
            confirm_time=confirm_time,
            confirmed_by=confirmed_by,
            cooling_off_end_time=cooling_off_end_time,
            create_time=create_time,
            id=id,
            label=label,
            merchant_id=merchant_id,
            revoke_time=revoke_time,
            status=status,
        )

        return settlement_address

