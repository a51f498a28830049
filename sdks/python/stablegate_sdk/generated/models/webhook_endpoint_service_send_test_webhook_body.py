from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.webhook_endpoint_service_send_test_webhook_body_event_type_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType1
from ..models.webhook_endpoint_service_send_test_webhook_body_event_type_type_2_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1
from ..models.webhook_endpoint_service_send_test_webhook_body_event_type_type_3_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="WebhookEndpointServiceSendTestWebhookBody")



@_attrs_define
class WebhookEndpointServiceSendTestWebhookBody:
    """ Request to send a test event.

        Attributes:
            event_type (None | Unset | WebhookEndpointServiceSendTestWebhookBodyEventTypeType1 |
                WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1 |
                WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1): Event type to simulate, e.g. "invoice.paid";
                "webhook.test" when empty. The payload is marked test.
            request_id (None | str | Unset): Client-chosen idempotency key.
     """

    event_type: None | Unset | WebhookEndpointServiceSendTestWebhookBodyEventTypeType1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1 = UNSET
    request_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        event_type: None | str | Unset
        if isinstance(self.event_type, Unset):
            event_type = UNSET
        elif isinstance(self.event_type, WebhookEndpointServiceSendTestWebhookBodyEventTypeType1):
            event_type = self.event_type.value
        elif isinstance(self.event_type, WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1):
            event_type = self.event_type.value
        elif isinstance(self.event_type, WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1):
            event_type = self.event_type.value
        else:
            event_type = self.event_type

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_event_type(data: object) -> None | Unset | WebhookEndpointServiceSendTestWebhookBodyEventTypeType1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_1 = WebhookEndpointServiceSendTestWebhookBodyEventTypeType1(data)



                return event_type_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_2_type_1 = WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1(data)



                return event_type_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                event_type_type_3_type_1 = WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1(data)



                return event_type_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WebhookEndpointServiceSendTestWebhookBodyEventTypeType1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1 | WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1, data)

        event_type = _parse_event_type(d.pop("event_type", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        webhook_endpoint_service_send_test_webhook_body = cls(
            event_type=event_type,
            request_id=request_id,
        )

        return webhook_endpoint_service_send_test_webhook_body

