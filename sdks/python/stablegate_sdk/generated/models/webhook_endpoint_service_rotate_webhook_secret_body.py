from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="WebhookEndpointServiceRotateWebhookSecretBody")



@_attrs_define
class WebhookEndpointServiceRotateWebhookSecretBody:
    """ Request to rotate an endpoint's signing secret.

        Attributes:
            overlap (None | str | Unset): How long the previous secret keeps signing alongside the new one; 24 h when unset,
                at most 7 days.
            request_id (None | str | Unset): Client-chosen idempotency key; a retry returns the same new secret.
     """

    overlap: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        overlap: None | str | Unset
        if isinstance(self.overlap, Unset):
            overlap = UNSET
        else:
            overlap = self.overlap

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if overlap is not UNSET:
            field_dict["overlap"] = overlap
        if request_id is not UNSET:
            field_dict["request_id"] = request_id

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_overlap(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        overlap = _parse_overlap(d.pop("overlap", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        webhook_endpoint_service_rotate_webhook_secret_body = cls(
            overlap=overlap,
            request_id=request_id,
        )

        return webhook_endpoint_service_rotate_webhook_secret_body

