from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="WebhookDeliveryAttempt")



@_attrs_define
class WebhookDeliveryAttempt:
    """ One HTTP attempt of a delivery.

        Attributes:
            attempt_number (int | None | Unset): 1-based attempt number.
            attempt_time (datetime.datetime | None | Unset): When the attempt started.
            duration_ms (int | None | Unset): Round-trip time in milliseconds.
            error (None | str | Unset): Error when no valid response was received; empty otherwise.
            response_excerpt (None | str | Unset): The first bytes (at most 1 KiB, as text) of the response body.
            response_status (int | None | Unset): HTTP status received; 0 when no response.
     """

    attempt_number: int | None | Unset = UNSET
    attempt_time: datetime.datetime | None | Unset = UNSET
    duration_ms: int | None | Unset = UNSET
    error: None | str | Unset = UNSET
    response_excerpt: None | str | Unset = UNSET
    response_status: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        attempt_number: int | None | Unset
        if isinstance(self.attempt_number, Unset):
            attempt_number = UNSET
        else:
            attempt_number = self.attempt_number

        attempt_time: None | str | Unset
        if isinstance(self.attempt_time, Unset):
            attempt_time = UNSET
        elif isinstance(self.attempt_time, datetime.datetime):
            attempt_time = self.attempt_time.isoformat()
        else:
            attempt_time = self.attempt_time

        duration_ms: int | None | Unset
        if isinstance(self.duration_ms, Unset):
            duration_ms = UNSET
        else:
            duration_ms = self.duration_ms

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        response_excerpt: None | str | Unset
        if isinstance(self.response_excerpt, Unset):
            response_excerpt = UNSET
        else:
            response_excerpt = self.response_excerpt

        response_status: int | None | Unset
        if isinstance(self.response_status, Unset):
            response_status = UNSET
        else:
            response_status = self.response_status


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if attempt_number is not UNSET:
            field_dict["attempt_number"] = attempt_number
        if attempt_time is not UNSET:
            field_dict["attempt_time"] = attempt_time
        if duration_ms is not UNSET:
            field_dict["duration_ms"] = duration_ms
        if error is not UNSET:
            field_dict["error"] = error
        if response_excerpt is not UNSET:
            field_dict["response_excerpt"] = response_excerpt
        if response_status is not UNSET:
            field_dict["response_status"] = response_status

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_attempt_number(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        attempt_number = _parse_attempt_number(d.pop("attempt_number", UNSET))


        def _parse_attempt_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                attempt_time_type_0 = datetime.datetime.fromisoformat(data)



                return attempt_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        attempt_time = _parse_attempt_time(d.pop("attempt_time", UNSET))


        def _parse_duration_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        duration_ms = _parse_duration_ms(d.pop("duration_ms", UNSET))


        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        def _parse_response_excerpt(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        response_excerpt = _parse_response_excerpt(d.pop("response_excerpt", UNSET))


        def _parse_response_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        response_status = _parse_response_status(d.pop("response_status", UNSET))


        webhook_delivery_attempt = cls(
            attempt_number=attempt_number,
            attempt_time=attempt_time,
            duration_ms=duration_ms,
            error=error,
            response_excerpt=response_excerpt,
            response_status=response_status,
        )

        return webhook_delivery_attempt

