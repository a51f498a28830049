from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime






T = TypeVar("T", bound="WebhookEndpointServiceReplayFailedWebhooksBody")



@_attrs_define
class WebhookEndpointServiceReplayFailedWebhooksBody:
    """ Request to replay failed deliveries.

        Attributes:
            start_time (datetime.datetime): Failed deliveries created at or after this time are sent again; at most 30 days
                ago.
     """

    start_time: datetime.datetime





    def to_dict(self) -> dict[str, Any]:
        start_time = self.start_time.isoformat()


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "start_time": start_time,
        })

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        start_time = datetime.datetime.fromisoformat(d.pop("start_time"))




        webhook_endpoint_service_replay_failed_webhooks_body = cls(
            start_time=start_time,
        )

        return webhook_endpoint_service_replay_failed_webhooks_body

