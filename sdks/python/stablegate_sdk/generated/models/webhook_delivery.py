from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.webhook_delivery_status import WebhookDeliveryStatus
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.webhook_delivery_attempt import WebhookDeliveryAttempt





T = TypeVar("T", bound="WebhookDelivery")



@_attrs_define
class WebhookDelivery:
    """ One event sent (or to be sent) to one endpoint, with its attempts.

        Attributes:
            attempt_count (int | None | Unset): Number of attempts made so far.
            attempts (list[WebhookDeliveryAttempt] | None | Unset): Attempts, oldest first.
            create_time (datetime.datetime | None | Unset): When the delivery was created.
            endpoint_id (None | str | Unset): Id of the endpoint it is delivered to.
            event_id (None | str | Unset): Id of the event; the webhook-id header, stable across attempts and redeliveries.
            event_type (None | str | Unset): Event type, e.g. "invoice.paid".
            id (None | str | Unset): Unique delivery id, e.g. "wd_01HV...".
            last_attempt_time (datetime.datetime | None | Unset): When the last attempt was made; unset before the first.
            last_error (None | str | Unset): Error of the last attempt (e.g. "timeout", "connection refused"); empty on
                success.
            last_response_status (int | None | Unset): HTTP status of the last attempt; 0 when no response was received.
            next_attempt_time (datetime.datetime | None | Unset): When the next attempt is due; unset when no attempt is
                pending.
            redelivery_of (None | str | Unset): Id of the delivery this one redelivers; empty for originals.
            status (None | Unset | WebhookDeliveryStatus): Delivery status.
            test (bool | None | Unset): True for deliveries made by SendTestWebhook.
     """

    attempt_count: int | None | Unset = UNSET
    attempts: list[WebhookDeliveryAttempt] | None | Unset = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    endpoint_id: None | str | Unset = UNSET
    event_id: None | str | Unset = UNSET
    event_type: None | str | Unset = UNSET
    id: None | str | Unset = UNSET
    last_attempt_time: datetime.datetime | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    last_response_status: int | None | Unset = UNSET
    next_attempt_time: datetime.datetime | None | Unset = UNSET
    redelivery_of: None | str | Unset = UNSET
    status: None | Unset | WebhookDeliveryStatus = UNSET
    test: bool | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_delivery_attempt import WebhookDeliveryAttempt # noqa: PLC0415
        attempt_count: int | None | Unset
        if isinstance(self.attempt_count, Unset):
            attempt_count = UNSET
        else:
            attempt_count = self.attempt_count

        attempts: list[dict[str, Any]] | None | Unset
        if isinstance(self.attempts, Unset):
            attempts = UNSET
        elif isinstance(self.attempts, list):
            attempts = []
            for attempts_type_0_item_data in self.attempts:
                attempts_type_0_item = attempts_type_0_item_data.to_dict()
                attempts.append(attempts_type_0_item)


        else:
            attempts = self.attempts

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        endpoint_id: None | str | Unset
        if isinstance(self.endpoint_id, Unset):
            endpoint_id = UNSET
        else:
            endpoint_id = self.endpoint_id

        event_id: None | str | Unset
        if isinstance(self.event_id, Unset):
            event_id = UNSET
        else:
            event_id = self.event_id

        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        else:
            event_type = self.event_type

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        last_attempt_time: None | str | Unset
        if isinstance(self.last_attempt_time, Unset):
            last_attempt_time = UNSET
        elif isinstance(self.last_attempt_time, datetime.datetime):
            last_attempt_time = self.last_attempt_time.isoformat()
        else:
            last_attempt_time = self.last_attempt_time

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        last_response_status: int | None | Unset
        if isinstance(self.last_response_status, Unset):
            last_response_status = UNSET
        else:
            last_response_status = self.last_response_status

        next_attempt_time: None | str | Unset
        if isinstance(self.next_attempt_time, Unset):
            next_attempt_time = UNSET
        elif isinstance(self.next_attempt_time, datetime.datetime):
            next_attempt_time = self.next_attempt_time.isoformat()
        else:
            next_attempt_time = self.next_attempt_time

        redelivery_of: None | str | Unset
        if isinstance(self.redelivery_of, Unset):
            redelivery_of = UNSET
        else:
            redelivery_of = self.redelivery_of

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, WebhookDeliveryStatus):
            status = self.status.value
        else:
            status = self.status

        test: bool | None | Unset
        if isinstance(self.test, Unset):
            test = UNSET
        else:
            test = self.test


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if attempt_count is not UNSET:
            field_dict["attempt_count"] = attempt_count
        if attempts is not UNSET:
            field_dict["attempts"] = attempts
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if endpoint_id is not UNSET:
            field_dict["endpoint_id"] = endpoint_id
        if event_id is not UNSET:
            field_dict["event_id"] = event_id
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if id is not UNSET:
            field_dict["id"] = id
        if last_attempt_time is not UNSET:
            field_dict["last_attempt_time"] = last_attempt_time
        if last_error is not UNSET:
            field_dict["last_error"] = last_error
        if last_response_status is not UNSET:
            field_dict["last_response_status"] = last_response_status
        if next_attempt_time is not UNSET:
            field_dict["next_attempt_time"] = next_attempt_time
        if redelivery_of is not UNSET:
            field_dict["redelivery_of"] = redelivery_of
        if status is not UNSET:
            field_dict["status"] = status
        if test is not UNSET:
            field_dict["test"] = test

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_delivery_attempt import WebhookDeliveryAttempt # noqa: PLC0415
        d = dict(src_dict)
        def _parse_attempt_count(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        attempt_count = _parse_attempt_count(d.pop("attempt_count", UNSET))


        def _parse_attempts(data: object) -> list[WebhookDeliveryAttempt] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                attempts_type_0 = []
                _attempts_type_0 = data
                for attempts_type_0_item_data in (_attempts_type_0):
                    attempts_type_0_item = WebhookDeliveryAttempt.from_dict(attempts_type_0_item_data)



                    attempts_type_0.append(attempts_type_0_item)

                return attempts_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookDeliveryAttempt] | None | Unset, data)

        attempts = _parse_attempts(d.pop("attempts", UNSET))


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


        def _parse_endpoint_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        endpoint_id = _parse_endpoint_id(d.pop("endpoint_id", UNSET))


        def _parse_event_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_id = _parse_event_id(d.pop("event_id", UNSET))


        def _parse_event_type(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event_type = _parse_event_type(d.pop("event_type", UNSET))


        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_last_attempt_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_attempt_time_type_0 = datetime.datetime.fromisoformat(data)



                return last_attempt_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_attempt_time = _parse_last_attempt_time(d.pop("last_attempt_time", UNSET))


        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))


        def _parse_last_response_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        last_response_status = _parse_last_response_status(d.pop("last_response_status", UNSET))


        def _parse_next_attempt_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_attempt_time_type_0 = datetime.datetime.fromisoformat(data)



                return next_attempt_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_attempt_time = _parse_next_attempt_time(d.pop("next_attempt_time", UNSET))


        def _parse_redelivery_of(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        redelivery_of = _parse_redelivery_of(d.pop("redelivery_of", UNSET))


        def _parse_status(data: object) -> None | Unset | WebhookDeliveryStatus:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = WebhookDeliveryStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WebhookDeliveryStatus, data)

        status = _parse_status(d.pop("status", UNSET))


        def _parse_test(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        test = _parse_test(d.pop("test", UNSET))


        webhook_delivery = cls(
            attempt_count=attempt_count,
            attempts=attempts,
            create_time=create_time,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event_type=event_type,
            id=id,
            last_attempt_time=last_attempt_time,
            last_error=last_error,
            last_response_status=last_response_status,
            next_attempt_time=next_attempt_time,
            redelivery_of=redelivery_of,
            status=status,
            test=test,
        )

        return webhook_delivery

