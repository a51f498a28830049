from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.payout_frequency import PayoutFrequency
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="PayoutSchedule")



@_attrs_define
class PayoutSchedule:
    """ When the ledger pays a merchant out on its own.

        Attributes:
            auto_refund_overpayments (bool | None | Unset): When true, an invoice made OVERPAID by a payment credited at
                finality, and created with a refund_address, has its excess (amount paid - amount due) refunded to that address
                automatically, once.
            frequency (None | PayoutFrequency | Unset): How often.
            hour_utc (int | None | Unset): DAILY and WEEKLY: the hour of the day (UTC, 0 to 23) from which that day's payout
                is made.
            last_outcome (None | str | Unset): What that run did: "PAID", or why it was skipped
                ("SETTLEMENT_ADDRESS_NOT_USABLE", "BELOW_MINIMUM", "PAYOUT_IN_PROGRESS", "SETTLEMENT_ADDRESS_REVOKED"); empty
                before.
            last_payout_id (None | str | Unset): The payout the last paid run made; empty before.
            last_run_time (datetime.datetime | None | Unset): When the scheduler last looked at this schedule while it was
                due; unset before.
            merchant_id (None | str | Unset): Id of the merchant it belongs to.
            minimum_amount (None | str | Unset): The smallest scheduled payout, decimal string in token units (not below the
                ledger's minimum payout; empty: that minimum). A smaller balance less fee is left for a later period.
            minimum_amount_base_units (None | str | Unset): The smallest scheduled payout, integer string in base units.
            settlement_address_id (None | str | Unset): Id of the settlement address scheduled payouts go to (required
                unless MANUAL). It must be ACTIVE when a payout is due; until then the run is skipped (see last_outcome).
            threshold (None | str | Unset): THRESHOLD only: a payout is made when the available balance reaches this,
                decimal string in token units.
            threshold_base_units (None | str | Unset): THRESHOLD only: the threshold, integer string in base units.
            update_time (datetime.datetime | None | Unset): When the schedule was last changed; unset while it was never
                set.
            weekday (int | None | Unset): WEEKLY only: the ISO weekday, 1 (Monday) to 7 (Sunday); 0 otherwise.
     """

    auto_refund_overpayments: bool | None | Unset = UNSET
    frequency: None | PayoutFrequency | Unset = UNSET
    hour_utc: int | None | Unset = UNSET
    last_outcome: None | str | Unset = UNSET
    last_payout_id: None | str | Unset = UNSET
    last_run_time: datetime.datetime | None | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    minimum_amount: None | str | Unset = UNSET
    minimum_amount_base_units: None | str | Unset = UNSET
    settlement_address_id: None | str | Unset = UNSET
    threshold: None | str | Unset = UNSET
    threshold_base_units: None | str | Unset = UNSET
    update_time: datetime.datetime | None | Unset = UNSET
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

        last_outcome: None | str | Unset
        if isinstance(self.last_outcome, Unset):
            last_outcome = UNSET
        else:
            last_outcome = self.last_outcome

        last_payout_id: None | str | Unset
        if isinstance(self.last_payout_id, Unset):
            last_payout_id = UNSET
        else:
            last_payout_id = self.last_payout_id

        last_run_time: None | str | Unset
        if isinstance(self.last_run_time, Unset):
            last_run_time = UNSET
        elif isinstance(self.last_run_time, datetime.datetime):
            last_run_time = self.last_run_time.isoformat()
        else:
            last_run_time = self.last_run_time

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        minimum_amount: None | str | Unset
        if isinstance(self.minimum_amount, Unset):
            minimum_amount = UNSET
        else:
            minimum_amount = self.minimum_amount

        minimum_amount_base_units: None | str | Unset
        if isinstance(self.minimum_amount_base_units, Unset):
            minimum_amount_base_units = UNSET
        else:
            minimum_amount_base_units = self.minimum_amount_base_units

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

        threshold_base_units: None | str | Unset
        if isinstance(self.threshold_base_units, Unset):
            threshold_base_units = UNSET
        else:
            threshold_base_units = self.threshold_base_units

        update_time: None | str | Unset
        if isinstance(self.update_time, Unset):
            update_time = UNSET
        elif isinstance(self.update_time, datetime.datetime):
            update_time = self.update_time.isoformat()
        else:
            update_time = self.update_time

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
        if last_outcome is not UNSET:
            field_dict["last_outcome"] = last_outcome
        if last_payout_id is not UNSET:
            field_dict["last_payout_id"] = last_payout_id
        if last_run_time is not UNSET:
            field_dict["last_run_time"] = last_run_time
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if minimum_amount is not UNSET:
            field_dict["minimum_amount"] = minimum_amount
        if minimum_amount_base_units is not UNSET:
            field_dict["minimum_amount_base_units"] = minimum_amount_base_units
        if settlement_address_id is not UNSET:
            field_dict["settlement_address_id"] = settlement_address_id
        if threshold is not UNSET:
            field_dict["threshold"] = threshold
        if threshold_base_units is not UNSET:
            field_dict["threshold_base_units"] = threshold_base_units
        if update_time is not UNSET:
            field_dict["update_time"] = update_time
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


        def _parse_last_outcome(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_outcome = _parse_last_outcome(d.pop("last_outcome", UNSET))


        def _parse_last_payout_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_payout_id = _parse_last_payout_id(d.pop("last_payout_id", UNSET))


        def _parse_last_run_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_run_time_type_0 = datetime.datetime.fromisoformat(data)



                return last_run_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_run_time = _parse_last_run_time(d.pop("last_run_time", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_minimum_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        minimum_amount = _parse_minimum_amount(d.pop("minimum_amount", UNSET))


        def _parse_minimum_amount_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        minimum_amount_base_units = _parse_minimum_amount_base_units(d.pop("minimum_amount_base_units", UNSET))


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


        def _parse_threshold_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        threshold_base_units = _parse_threshold_base_units(d.pop("threshold_base_units", UNSET))


        def _parse_update_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                update_time_type_0 = datetime.datetime.fromisoformat(data)



                return update_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        update_time = _parse_update_time(d.pop("update_time", UNSET))


        def _parse_weekday(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        weekday = _parse_weekday(d.pop("weekday", UNSET))


        payout_schedule = cls(
            auto_refund_overpayments=auto_refund_overpayments,
            frequency=frequency,
            hour_utc=hour_utc,
            last_outcome=last_outcome,
            last_payout_id=last_payout_id,
            last_run_time=last_run_time,
            merchant_id=merchant_id,
            minimum_amount=minimum_amount,
            minimum_amount_base_units=minimum_amount_base_units,
            settlement_address_id=settlement_address_id,
            threshold=threshold,
            threshold_base_units=threshold_base_units,
            update_time=update_time,
            weekday=weekday,
        )

        return payout_schedule

