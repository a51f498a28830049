from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast






T = TypeVar("T", bound="ReplayFailedWebhooksResponse")



@_attrs_define
class ReplayFailedWebhooksResponse:
    """ Response to ReplayFailedWebhooks.

        Attributes:
            replayed_count (int | None | Unset): How many new deliveries were made (at most 1000 per call; call again for
                more).
     """

    replayed_count: int | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        replayed_count: int | None | Unset
        if isinstance(self.replayed_count, Unset):
            replayed_count = UNSET
        else:
            replayed_count = self.replayed_count


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if replayed_count is not UNSET:
            field_dict["replayed_count"] = replayed_count

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_replayed_count(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        replayed_count = _parse_replayed_count(d.pop("replayed_count", UNSET))


        replay_failed_webhooks_response = cls(
            replayed_count=replayed_count,
        )

        return replay_failed_webhooks_response

