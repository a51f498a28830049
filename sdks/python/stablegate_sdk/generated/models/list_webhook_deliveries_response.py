from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.webhook_delivery import WebhookDelivery





T = TypeVar("T", bound="ListWebhookDeliveriesResponse")



@_attrs_define
class ListWebhookDeliveriesResponse:
    """ A page of webhook deliveries.

        Attributes:
            deliveries (list[WebhookDelivery] | None | Unset): Deliveries, newest first.
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
     """

    deliveries: list[WebhookDelivery] | None | Unset = UNSET
    next_page_token: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.webhook_delivery import WebhookDelivery # noqa: PLC0415
        deliveries: list[dict[str, Any]] | None | Unset
        if isinstance(self.deliveries, Unset):
            deliveries = UNSET
        elif isinstance(self.deliveries, list):
            deliveries = []
            for deliveries_type_0_item_data in self.deliveries:
                deliveries_type_0_item = deliveries_type_0_item_data.to_dict()
                deliveries.append(deliveries_type_0_item)


        else:
            deliveries = self.deliveries

        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if deliveries is not UNSET:
            field_dict["deliveries"] = deliveries
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.webhook_delivery import WebhookDelivery # noqa: PLC0415
        d = dict(src_dict)
        def _parse_deliveries(data: object) -> list[WebhookDelivery] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                deliveries_type_0 = []
                _deliveries_type_0 = data
                for deliveries_type_0_item_data in (_deliveries_type_0):
                    deliveries_type_0_item = WebhookDelivery.from_dict(deliveries_type_0_item_data)



                    deliveries_type_0.append(deliveries_type_0_item)

                return deliveries_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookDelivery] | None | Unset, data)

        deliveries = _parse_deliveries(d.pop("deliveries", UNSET))


        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        list_webhook_deliveries_response = cls(
            deliveries=deliveries,
            next_page_token=next_page_token,
        )

        return list_webhook_deliveries_response

