from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.payout_frequency import PayoutFrequency
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="UpdatePayoutScheduleRequest")



@_attrs_define
class UpdatePayoutScheduleRequest:
    """ Request for UpdatePayoutSchedule.

        Attributes:
            auto_refund_overpayments (bool | None | Unset): Refund the excess of overpaid invoices that carry a
                refund_address automatically (default false).
            frequency (None | PayoutFrequency | Unset): How often (UNSPECIFIED: MANUAL).
            hour_utc (int | None | Unset): DAILY and WEEKLY: 0 to 23 (UTC).
            minimum_amount (None | str | Unset): The smallest scheduled payout in token units; empty: the ledger's minimum
                payout.
            settlement_address_id (None | str | Unset): The settlement address scheduled payouts go to; required unless
                MANUAL. It may still be cooling off.
            threshold (None | str | Unset): THRESHOLD: a positive decimal string in token units; must be empty otherwise.
            weekday (int | None | Unset): WEEKLY: 1 (Monday) to 7 (Sunday); must be 0 otherwise.
     """

    auto_refund_overpayments: bool | None | Unset = UNSET
    frequency: None | PayoutFrequency | Unset = UNSET
    hour_utc: int | None | Unset = UNSET
    minimum_amount: None | str | Unset = UNSET
    settlement_address_id: None | str | Unset = UNSET
    threshold: None | str | Unset = UNSET
    weekday: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        auto_refund_overpayments: bool | None | Unset
        if isinstance(self.auto_refund_overpayments, Unset):
            auto_refund_overpayments = UNSET
        else:
            auto_refund_overpayments = self.auto_refund_overpayments

        frequency: None | str | Unset
        if isinstance(self.frequency, Unset):
            frequency = UNSET
        elif isinstance(self.frequency, PayoutFrequency):
            frequency = self.frequency.value
        else:
            frequency = self.frequency

        hour_utc: int | None | Unset
        if isinstance(self.hour_utc, Unset):
            hour_utc = UNSET
        else:
            hour_utc = self.hour_utc

        minimum_amount: None | str | Unset
        if isinstance(self.minimum_amount, Unset):
            minimum_amount = UNSET
        else:
            minimum_amount = self.minimum_amount

        settlement_address_id: None | str | Unset
        if isinstance(self.settlement_address_id, Unset):
            settlement_address_id = UNSET
        else:
            settlement_address_id = self.settlement_address_id

        threshold: None | str | Unset
        if isinstance(self.threshold, Unset):
            threshold = UNSET
        else:
            threshold = self.threshold

        weekday: int | None | Unset
        if isinstance(self.weekday, Unset):
            weekday = UNSET
        else:
            weekday = self.weekday


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if auto_refund_overpayments is not UNSET:
            field_dict["auto_refund_overpayments"] = auto_refund_overpayments
        if frequency is not UNSET:
            field_dict["frequency"] = frequency
        if hour_utc is not UNSET:
            field_dict["hour_utc"] = hour_utc
        if minimum_amount is not UNSET:
            field_dict["minimum_amount"] = minimum_amount
        if settlement_address_id is not UNSET:
            field_dict["settlement_address_id"] = settlement_address_id
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if weekday is not UNSET:
            field_dict["weekday"] = weekday

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_auto_refund_overpayments(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        auto_refund_overpayments = _parse_auto_refund_overpayments(d.pop("auto_refund_overpayments", UNSET))


        def _parse_frequency(data: object) -> None | PayoutFrequency | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                frequency_type_1 = PayoutFrequency(data)



                return frequency_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PayoutFrequency | Unset, data)

        frequency = _parse_frequency(d.pop("frequency", UNSET))


        def _parse_hour_utc(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        hour_utc = _parse_hour_utc(d.pop("hour_utc", UNSET))


        def _parse_minimum_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        minimum_amount = _parse_minimum_amount(d.pop("minimum_amount", UNSET))


        def _parse_settlement_address_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        settlement_address_id = _parse_settlement_address_id(d.pop("settlement_address_id", UNSET))


        def _parse_threshold(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        threshold = _parse_threshold(d.pop("threshold", UNSET))


        def _parse_weekday(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        weekday = _parse_weekday(d.pop("weekday", UNSET))


        update_payout_schedule_request = cls(
            auto_refund_overpayments=auto_refund_overpayments,
            frequency=frequency,
            hour_utc=hour_utc,
            minimum_amount=minimum_amount,
            settlement_address_id=settlement_address_id,
            threshold=threshold,
            weekday=weekday,
        )

        return update_payout_schedule_request

