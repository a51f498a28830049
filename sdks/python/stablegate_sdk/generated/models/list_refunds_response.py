from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.refund import Refund





T = TypeVar("T", bound="ListRefundsResponse")



@_attrs_define
class ListRefundsResponse:
    """ A page of refunds.

        Attributes:
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
            refunds (list[Refund] | None | Unset): Refunds, newest first.
     """

    next_page_token: None | str | Unset = UNSET
    refunds: list[Refund] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.refund import Refund # noqa: PLC0415
        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token

        refunds: list[dict[str, Any]] | None | Unset
        if isinstance(self.refunds, Unset):
            refunds = UNSET
        elif isinstance(self.refunds, list):
            refunds = []
            for refunds_type_0_item_data in self.refunds:
                refunds_type_0_item = refunds_type_0_item_data.to_dict()
                refunds.append(refunds_type_0_item)


        else:
            refunds = self.refunds


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token
        if refunds is not UNSET:
            field_dict["refunds"] = refunds

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.refund import Refund # noqa: PLC0415
        d = dict(src_dict)
        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        def _parse_refunds(data: object) -> list[Refund] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                refunds_type_0 = []
                _refunds_type_0 = data
                for refunds_type_0_item_data in (_refunds_type_0):
                    refunds_type_0_item = Refund.from_dict(refunds_type_0_item_data)



                    refunds_type_0.append(refunds_type_0_item)

                return refunds_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Refund] | None | Unset, data)

        refunds = _parse_refunds(d.pop("refunds", UNSET))


        list_refunds_response = cls(
            next_page_token=next_page_token,
            refunds=refunds,
        )

        return list_refunds_response

