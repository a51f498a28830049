from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.webhook_endpoint import WebhookEndpoint





T = TypeVar("T", bound="ListWebhookEndpointsResponse")



@_attrs_define
class ListWebhookEndpointsResponse:
    """ A page of webhook endpoints.

        Attributes:
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
            webhook_endpoints (list[WebhookEndpoint] | None | Unset): Endpoints; secrets are empty.
     """

    next_page_token: None | str | Unset = UNSET
    webhook_endpoints: list[WebhookEndpoint] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_endpoint import WebhookEndpoint # noqa: PLC0415
        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token

        webhook_endpoints: list[dict[str, Any]] | None | Unset
        if isinstance(self.webhook_endpoints, Unset):
            webhook_endpoints = UNSET
        elif isinstance(self.webhook_endpoints, list):
            webhook_endpoints = []
            for webhook_endpoints_type_0_item_data in self.webhook_endpoints:
                webhook_endpoints_type_0_item = webhook_endpoints_type_0_item_data.to_dict()
                webhook_endpoints.append(webhook_endpoints_type_0_item)


        else:
            webhook_endpoints = self.webhook_endpoints


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token
        if webhook_endpoints is not UNSET:
            field_dict["webhook_endpoints"] = webhook_endpoints

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_endpoint import WebhookEndpoint # noqa: PLC0415
        d = dict(src_dict)
        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        def _parse_webhook_endpoints(data: object) -> list[WebhookEndpoint] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                webhook_endpoints_type_0 = []
                _webhook_endpoints_type_0 = data
                for webhook_endpoints_type_0_item_data in (_webhook_endpoints_type_0):
                    webhook_endpoints_type_0_item = WebhookEndpoint.from_dict(webhook_endpoints_type_0_item_data)



                    webhook_endpoints_type_0.append(webhook_endpoints_type_0_item)

                return webhook_endpoints_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookEndpoint] | None | Unset, data)

        webhook_endpoints = _parse_webhook_endpoints(d.pop("webhook_endpoints", UNSET))


        list_webhook_endpoints_response = cls(
            next_page_token=next_page_token,
            webhook_endpoints=webhook_endpoints,
        )

        return list_webhook_endpoints_response

