from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.webhook_endpoint_api_version_type_1 import WebhookEndpointApiVersionType1
from ..models.webhook_endpoint_api_version_type_2_type_1 import WebhookEndpointApiVersionType2Type1
from ..models.webhook_endpoint_api_version_type_3_type_1 import WebhookEndpointApiVersionType3Type1
from ..models.webhook_endpoint_enabled_events_type_0_item import WebhookEndpointEnabledEventsType0Item
from ..models.webhook_endpoint_signing_algorithms_type_0_item import WebhookEndpointSigningAlgorithmsType0Item
from ..types import UNSET, Unset
from typing import cast
import datetime






T = TypeVar("T", bound="WebhookEndpoint")



@_attrs_define
class WebhookEndpoint:
    """ A URL that receives signed event notifications (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
    headers).

        Attributes:
            api_version (None | Unset | WebhookEndpointApiVersionType1 | WebhookEndpointApiVersionType2Type1 |
                WebhookEndpointApiVersionType3Type1): Version of the event payloads sent to this endpoint, e.g. "2026-11-25";
                the latest when empty at creation.
            create_time (datetime.datetime | None | Unset): When the endpoint was created.
            description (None | str | Unset): Free text for the merchant's own use.
            disabled (bool | None | Unset): When true, no events are delivered (set by the merchant, or by the gateway after
                a 410 Gone).
            disabled_reason (None | str | Unset): Why the endpoint is disabled, e.g. "GONE_410"; empty when enabled or
                disabled by the merchant.
            enabled_events (list[WebhookEndpointEnabledEventsType0Item] | None | Unset): Event types delivered: exact types
                ("invoice.paid") or a family ("invoice.*"); ["*"] or empty means all.
            id (None | str | Unset): Unique endpoint id, e.g. "we_01HV...".
            merchant_id (None | str | Unset): Id of the merchant that owns the endpoint.
            previous_secret_expire_time (datetime.datetime | None | Unset): Until when the previous secret still signs
                alongside the current one after a rotation; unset if none.
            secret (None | str | Unset): HMAC signing secret ("whsec_..."); returned only by create and rotate, empty
                everywhere else.
            signing_algorithms (list[WebhookEndpointSigningAlgorithmsType0Item] | None | Unset): Signature schemes put in
                the webhook-signature header; [HMAC_SHA256] when empty.
            signing_public_key (None | str | Unset): Ed25519 public key ("whpk_...", base64) that verifies v1a signatures;
                empty unless ED25519 is enabled.
            update_time (datetime.datetime | None | Unset): When the endpoint last changed.
            url (None | str | Unset): https URL events are POSTed to; must resolve to a public address (SSRF guard).
     """

    api_version: None | Unset | WebhookEndpointApiVersionType1 | WebhookEndpointApiVersionType2Type1 | WebhookEndpointApiVersionType3Type1 = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    description: None | str | Unset = UNSET
    disabled: bool | None | Unset = UNSET
    disabled_reason: None | str | Unset = UNSET
    enabled_events: list[WebhookEndpointEnabledEventsType0Item] | None | Unset = UNSET
    id: None | str | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    previous_secret_expire_time: datetime.datetime | None | Unset = UNSET
    secret: None | str | Unset = UNSET
    signing_algorithms: list[WebhookEndpointSigningAlgorithmsType0Item] | None | Unset = UNSET
    signing_public_key: None | str | Unset = UNSET
    update_time: datetime.datetime | None | Unset = UNSET
    url: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        api_version: None | str | Unset
        if isinstance(self.api_version, Unset):
            api_version = UNSET
        elif isinstance(self.api_version, WebhookEndpointApiVersionType1):
            api_version = self.api_version.value
        elif isinstance(self.api_version, WebhookEndpointApiVersionType2Type1):
            api_version = self.api_version.value
        elif isinstance(self.api_version, WebhookEndpointApiVersionType3Type1):
            api_version = self.api_version.value
        else:
            api_version = self.api_version

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        disabled: bool | None | Unset
        if isinstance(self.disabled, Unset):
            disabled = UNSET
        else:
            disabled = self.disabled

        disabled_reason: None | str | Unset
        if isinstance(self.disabled_reason, Unset):
            disabled_reason = UNSET
        else:
            disabled_reason = self.disabled_reason

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

        id: None | str | Unset
        if isinstance(self.id, Unset):
            id = UNSET
        else:
            id = self.id

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        previous_secret_expire_time: None | str | Unset
        if isinstance(self.previous_secret_expire_time, Unset):
            previous_secret_expire_time = UNSET
        elif isinstance(self.previous_secret_expire_time, datetime.datetime):
            previous_secret_expire_time = self.previous_secret_expire_time.isoformat()
        else:
            previous_secret_expire_time = self.previous_secret_expire_time

        secret: None | str | Unset
        if isinstance(self.secret, Unset):
            secret = UNSET
        else:
            secret = self.secret

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

        signing_public_key: None | str | Unset
        if isinstance(self.signing_public_key, Unset):
            signing_public_key = UNSET
        else:
            signing_public_key = self.signing_public_key

        update_time: None | str | Unset
        if isinstance(self.update_time, Unset):
            update_time = UNSET
        elif isinstance(self.update_time, datetime.datetime):
            update_time = self.update_time.isoformat()
        else:
            update_time = self.update_time

        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if api_version is not UNSET:
            field_dict["api_version"] = api_version
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if description is not UNSET:
            field_dict["description"] = description
        if disabled is not UNSET:
            field_dict["disabled"] = disabled
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if enabled_events is not UNSET:
            field_dict["enabled_events"] = enabled_events
        if id is not UNSET:
            field_dict["id"] = id
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if previous_secret_expire_time is not UNSET:
            field_dict["previous_secret_expire_time"] = previous_secret_expire_time
        if secret is not UNSET:
            field_dict["secret"] = secret
        if signing_algorithms is not UNSET:
            field_dict["signing_algorithms"] = signing_algorithms
        if signing_public_key is not UNSET:
            field_dict["signing_public_key"] = signing_public_key
        if update_time is not UNSET:
            field_dict["update_time"] = update_time
        if url is not UNSET:
            field_dict["url"] = url

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_api_version(data: object) -> None | Unset | WebhookEndpointApiVersionType1 | WebhookEndpointApiVersionType2Type1 | WebhookEndpointApiVersionType3Type1:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_1 = WebhookEndpointApiVersionType1(data)



                return api_version_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_2_type_1 = WebhookEndpointApiVersionType2Type1(data)



                return api_version_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_version_type_3_type_1 = WebhookEndpointApiVersionType3Type1(data)



                return api_version_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | WebhookEndpointApiVersionType1 | WebhookEndpointApiVersionType2Type1 | WebhookEndpointApiVersionType3Type1, data)

        api_version = _parse_api_version(d.pop("api_version", UNSET))


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


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_disabled(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        disabled = _parse_disabled(d.pop("disabled", UNSET))


        def _parse_disabled_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason", UNSET))


        def _parse_enabled_events(data: object) -> list[WebhookEndpointEnabledEventsType0Item] | None | Unset:
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
                    enabled_events_type_0_item = WebhookEndpointEnabledEventsType0Item(enabled_events_type_0_item_data)



                    enabled_events_type_0.append(enabled_events_type_0_item)

                return enabled_events_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookEndpointEnabledEventsType0Item] | None | Unset, data)

        enabled_events = _parse_enabled_events(d.pop("enabled_events", UNSET))


        def _parse_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        id = _parse_id(d.pop("id", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_previous_secret_expire_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                previous_secret_expire_time_type_0 = datetime.datetime.fromisoformat(data)



                return previous_secret_expire_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        previous_secret_expire_time = _parse_previous_secret_expire_time(d.pop("previous_secret_expire_time", UNSET))


        def _parse_secret(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        secret = _parse_secret(d.pop("secret", UNSET))


        def _parse_signing_algorithms(data: object) -> list[WebhookEndpointSigningAlgorithmsType0Item] | None | Unset:
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
                    signing_algorithms_type_0_item = WebhookEndpointSigningAlgorithmsType0Item(signing_algorithms_type_0_item_data)



                    signing_algorithms_type_0.append(signing_algorithms_type_0_item)

                return signing_algorithms_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookEndpointSigningAlgorithmsType0Item] | None | Unset, data)

        signing_algorithms = _parse_signing_algorithms(d.pop("signing_algorithms", UNSET))


        def _parse_signing_public_key(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        signing_public_key = _parse_signing_public_key(d.pop("signing_public_key", UNSET))


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


        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))


        webhook_endpoint = cls(
            api_version=api_version,
            create_time=create_time,
            description=description,
            disabled=disabled,
            disabled_reason=disabled_reason,
            enabled_events=enabled_events,
            id=id,
            merchant_id=merchant_id,
            previous_secret_expire_time=previous_secret_expire_time,
            secret=secret,
            signing_algorithms=signing_algorithms,
            signing_public_key=signing_public_key,
            update_time=update_time,
            url=url,
        )

        return webhook_endpoint

