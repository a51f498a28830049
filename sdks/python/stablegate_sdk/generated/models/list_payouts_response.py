from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.payout import Payout





T = TypeVar("T", bound="ListPayoutsResponse")



@_attrs_define
class ListPayoutsResponse:
    """ A page of payouts.

        Attributes:
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
            payouts (list[Payout] | None | Unset): Payouts, newest first.
     """

    next_page_token: None | str | Unset = UNSET
    payouts: list[Payout] | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.payout import Payout # noqa: PLC0415
        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token

        payouts: list[dict[str, Any]] | None | Unset
        if isinstance(self.payouts, Unset):
            payouts = UNSET
        elif isinstance(self.payouts, list):
            payouts = []
            for payouts_type_0_item_data in self.payouts:
                payouts_type_0_item = payouts_type_0_item_data.to_dict()
                payouts.append(payouts_type_0_item)


        else:
            payouts = self.payouts


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token
        if payouts is not UNSET:
            field_dict["payouts"] = payouts

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.payout import Payout # noqa: PLC0415
        d = dict(src_dict)
        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        def _parse_payouts(data: object) -> list[Payout] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                payouts_type_0 = []
                _payouts_type_0 = data
                for payouts_type_0_item_data in (_payouts_type_0):
                    payouts_type_0_item = Payout.from_dict(payouts_type_0_item_data)



                    payouts_type_0.append(payouts_type_0_item)

                return payouts_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Payout] | None | Unset, data)

        payouts = _parse_payouts(d.pop("payouts", UNSET))


        list_payouts_response = cls(
            next_page_token=next_page_token,
            payouts=payouts,
        )

        return list_payouts_response

