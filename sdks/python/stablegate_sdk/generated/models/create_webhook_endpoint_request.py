from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.create_webhook_endpoint_request_api_version_type_1 import CreateWebhookEndpointRequestApiVersionType1
from ..models.create_webhook_endpoint_request_api_version_type_2_type_1 import CreateWebhookEndpointRequestApiVersionType2Type1
from ..models.create_webhook_endpoint_request_api_version_type_3_type_1 import CreateWebhookEndpointRequestApiVersionType3Type1
from ..models.create_webhook_endpoint_request_enabled_events_type_0_item import CreateWebhookEndpointRequestEnabledEventsType0Item
from ..models.create_webhook_endpoint_request_signing_algorithms_type_0_item import CreateWebhookEndpointRequestSigningAlgorithmsType0Item
from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="CreateWebhookEndpointRequest")



@_attrs_define
class CreateWebhookEndpointRequest:
    """ Request to create a webhook endpoint.

        Attributes:
            url (str): https URL events are POSTed to.
            api_version (CreateWebhookEndpointRequestApiVersionType1 | CreateWebhookEndpointRequestApiVersionType2Type1 |
                CreateWebhookEndpointRequestApiVersionType3Type1 | None | Unset): Version of the event payloads, e.g.
                "2026-11-25"; the latest when empty.
            description (None | str | Unset): Free text for the merchant's own use.
            enabled_events (list[CreateWebhookEndpointRequestEnabledEventsType0Item] | None | Unset): Event types to
                deliver: exact types ("invoice.paid") or a family ("invoice.*"); empty or ["*"] means all.
            request_id (None | str | Unset): Client-chosen idempotency key.
            signing_algorithms (list[CreateWebhookEndpointRequestSigningAlgorithmsType0Item] | None | Unset): Signature
                schemes to use; [HMAC_SHA256] when empty.
     """

    url: str
    api_version: CreateWebhookEndpointRequestApiVersionType1 | CreateWebhookEndpointRequestApiVersionType2Type1 | CreateWebhookEndpointRequestApiVersionType3Type1 | None | Unset = UNSET
    description: None | str | Unset = UNSET
    enabled_events: list[CreateWebhookEndpointRequestEnabledEventsType0Item] | None | Unset = UNSET
    request_id: None | str | Unset = UNSET
    signing_algorithms: list[CreateWebhookEndpointRequestSigningAlgorithmsType0Item] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        url = self.url

        api_version: None | str | Unset
        if isinstance(self.api_version, Unset):
            api_version = UNSET
        elif isinstance(self.api_version, CreateWebhookEndpointRequestApiVersionType1):
            api_version = self.api_version.value
        elif isinstance(self.api_version, CreateWebhookEndpointRequestApiVersionType2Type1):
            api_version = self.api_version.value
        elif isinstance(self.api_version, CreateWebhookEndpointRequestApiVersionType3Type1):
            api_version = self.api_version.value
        else:
            api_version = self.api_version

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        enabled_events: list[str] | None | Unset
        if isinstance(self.enabled_events, Unset):
            enabled_events = UNSET
        elif isinstance(self.enabled_events, list):
            enabled_events = []
            for enabled_events_type_0_item_data in self.enabled_events:
                enabled_events_type_0_item = enabled_events_type_0_item_data.value
                enabled_events.append(enabled_events_type_0_item)


        else:
            enabled_events = self.enabled_events

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        signing_algorithms: list[str] | None | Unset
        if isinstance(self.signing_algorithms, Unset):
            signing_algorithms = UNSET
        elif isinstance(self.signing_algorithms, list):
            signing_algorithms = []
            for signing_algorithms_type_0_item_data in self.signing_algorithms:
                signing_algorithms_type_0_item = signing_algorithms_type_0_item_data.value
                signing_algorithms.append(signing_algorithms_type_0_item)


        else:
            signing_algorithms = self.signing_algorithms


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "url": url,
        })
        if api_version is not UNSET:
            field_dict["api_version"] = api_version
        if description is not UNSET:
            field_dict["description"] = description
        if enabled_events is not UNSET:
            field_dict["enabled_events"] = enabled_events
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if signing_algorithms is not UNSET:
            field_dict["signing_algorithms"] = signing_algorithms

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        url = d.pop("url")

        def _parse_api_version(data: object) -> CreateWebhookEndpointRequestApiVersionType1 | CreateWebhookEndpointRequestApiVersionType2Type1 | CreateWebhookEndpointRequestApiVersionType3Type1 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_1 = CreateWebhookEndpointRequestApiVersionType1(data)



                return api_version_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_2_type_1 = CreateWebhookEndpointRequestApiVersionType2Type1(data)



                return api_version_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_3_type_1 = CreateWebhookEndpointRequestApiVersionType3Type1(data)



                return api_version_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateWebhookEndpointRequestApiVersionType1 | CreateWebhookEndpointRequestApiVersionType2Type1 | CreateWebhookEndpointRequestApiVersionType3Type1 | None | Unset, data)

        api_version = _parse_api_version(d.pop("api_version", UNSET))


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_enabled_events(data: object) -> list[CreateWebhookEndpointRequestEnabledEventsType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                enabled_events_type_0 = []
                _enabled_events_type_0 = data
                for enabled_events_type_0_item_data in (_enabled_events_type_0):
                    enabled_events_type_0_item = CreateWebhookEndpointRequestEnabledEventsType0Item(enabled_events_type_0_item_data)



                    enabled_events_type_0.append(enabled_events_type_0_item)

                return enabled_events_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[CreateWebhookEndpointRequestEnabledEventsType0Item] | None | Unset, data)

        enabled_events = _parse_enabled_events(d.pop("enabled_events", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        def _parse_signing_algorithms(data: object) -> list[CreateWebhookEndpointRequestSigningAlgorithmsType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                signing_algorithms_type_0 = []
                _signing_algorithms_type_0 = data
                for signing_algorithms_type_0_item_data in (_signing_algorithms_type_0):
                    signing_algorithms_type_0_item = CreateWebhookEndpointRequestSigningAlgorithmsType0Item(signing_algorithms_type_0_item_data)



                    signing_algorithms_type_0.append(signing_algorithms_type_0_item)

                return signing_algorithms_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[CreateWebhookEndpointRequestSigningAlgorithmsType0Item] | None | Unset, data)

        signing_algorithms = _parse_signing_algorithms(d.pop("signing_algorithms", UNSET))


        create_webhook_endpoint_request = cls(
            url=url,
            api_version=api_version,
            description=description,
            enabled_events=enabled_events,
            request_id=request_id,
            signing_algorithms=signing_algorithms,
        )

        return create_webhook_endpoint_request

