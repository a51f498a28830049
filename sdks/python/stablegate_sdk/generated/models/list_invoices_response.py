from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.invoice import Invoice





T = TypeVar("T", bound="ListInvoicesResponse")



@_attrs_define
class ListInvoicesResponse:
    """ A page of invoices.

        Attributes:
            invoices (list[Invoice] | None | Unset): Invoices, newest first.
            next_page_token (None | str | Unset): Token for the next page; empty at the end.
     """

    invoices: list[Invoice] | None | Unset = UNSET
    next_page_token: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.invoice import Invoice # noqa: PLC0415
        invoices: list[dict[str, Any]] | None | Unset
        if isinstance(self.invoices, Unset):
            invoices = UNSET
        elif isinstance(self.invoices, list):
            invoices = []
            for invoices_type_0_item_data in self.invoices:
                invoices_type_0_item = invoices_type_0_item_data.to_dict()
                invoices.append(invoices_type_0_item)


        else:
            invoices = self.invoices

        next_page_token: None | str | Unset
        if isinstance(self.next_page_token, Unset):
            next_page_token = UNSET
        else:
            next_page_token = self.next_page_token


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if invoices is not UNSET:
            field_dict["invoices"] = invoices
        if next_page_token is not UNSET:
            field_dict["next_page_token"] = next_page_token

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.invoice import Invoice # noqa: PLC0415
        d = dict(src_dict)
        def _parse_invoices(data: object) -> list[Invoice] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                invoices_type_0 = []
                _invoices_type_0 = data
                for invoices_type_0_item_data in (_invoices_type_0):
                    invoices_type_0_item = Invoice.from_dict(invoices_type_0_item_data)



                    invoices_type_0.append(invoices_type_0_item)

                return invoices_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Invoice] | None | Unset, data)

        invoices = _parse_invoices(d.pop("invoices", UNSET))


        def _parse_next_page_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token", UNSET))


        list_invoices_response = cls(
            invoices=invoices,
            next_page_token=next_page_token,
        )

        return list_invoices_response

