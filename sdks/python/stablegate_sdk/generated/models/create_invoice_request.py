from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.create_invoice_request_asset_type_1 import CreateInvoiceRequestAssetType1
from ..models.create_invoice_request_asset_type_2_type_1 import CreateInvoiceRequestAssetType2Type1
from ..models.create_invoice_request_asset_type_3_type_1 import CreateInvoiceRequestAssetType3Type1
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.create_invoice_request_metadata_type_0 import CreateInvoiceRequestMetadataType0





T = TypeVar("T", bound="CreateInvoiceRequest")



@_attrs_define
class CreateInvoiceRequest:
    """ Request to create an invoice. At most one of expire_time, ttl (oneof expiration).

        Attributes:
            amount (str): Amount due, exact decimal string in token units (e.g. "10.50"); more decimals than the token has
                is rejected.
            asset (CreateInvoiceRequestAssetType1 | CreateInvoiceRequestAssetType2Type1 |
                CreateInvoiceRequestAssetType3Type1 | None | Unset): Asset symbol; "USDT" when empty.
            customer_reference (None | str | Unset): Merchant's customer reference.
            description (None | str | Unset): Free text shown to the customer; at most 500 characters.
            expire_time (datetime.datetime | None | Unset): Absolute expiry time.
            metadata (CreateInvoiceRequestMetadataType0 | None | Unset): Merchant's own key/value data (at most 20 keys,
                keys ≤ 40 and values ≤ 500 characters, 4 KiB as JSON).
            monitoring_window (None | str | Unset): How long after expiry late payments are still credited (flagged
                PAID_LATE); later ones are held as unallocated. Default 24 hours (ledger config), at most 30 days.
            order_id (None | str | Unset): Merchant's order reference.
            redirect_url (None | str | Unset): http(s) URL the checkout page sends the customer to after payment (at most
                2000 characters).
            refund_address (None | str | Unset): Optional: the payer's address, where the excess of an overpayment is
                refunded automatically when the merchant opted in (PayoutSchedule.auto_refund_overpayments; docs/payouts.md,
                "Automatic overpayment refunds").
            request_id (None | str | Unset): Client-chosen idempotency key; the same key with other content fails with
                ALREADY_EXISTS.
            ttl (None | str | Unset): Lifetime from creation, e.g. "900s".
            underpayment_tolerance (None | str | Unset): Shortfall accepted as paid in full, decimal string in token units;
                the merchant default when empty.
     """

    amount: str
    asset: CreateInvoiceRequestAssetType1 | CreateInvoiceRequestAssetType2Type1 | CreateInvoiceRequestAssetType3Type1 | None | Unset = UNSET
    customer_reference: None | str | Unset = UNSET
    description: None | str | Unset = UNSET
    expire_time: datetime.datetime | None | Unset = UNSET
    metadata: CreateInvoiceRequestMetadataType0 | None | Unset = UNSET
    monitoring_window: None | str | Unset = UNSET
    order_id: None | str | Unset = UNSET
    redirect_url: None | str | Unset = UNSET
    refund_address: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    ttl: None | str | Unset = UNSET
    underpayment_tolerance: None | str | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.create_invoice_request_metadata_type_0 import CreateInvoiceRequestMetadataType0 # noqa: PLC0415
        amount = self.amount

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        elif isinstance(self.asset, CreateInvoiceRequestAssetType1):
            asset = self.asset.value
        elif isinstance(self.asset, CreateInvoiceRequestAssetType2Type1):
            asset = self.asset.value
        elif isinstance(self.asset, CreateInvoiceRequestAssetType3Type1):
            asset = self.asset.value
        else:
            asset = self.asset

        customer_reference: None | str | Unset
        if isinstance(self.customer_reference, Unset):
            customer_reference = UNSET
        else:
            customer_reference = self.customer_reference

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        expire_time: None | str | Unset
        if isinstance(self.expire_time, Unset):
            expire_time = UNSET
        elif isinstance(self.expire_time, datetime.datetime):
            expire_time = self.expire_time.isoformat()
        else:
            expire_time = self.expire_time

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, CreateInvoiceRequestMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        monitoring_window: None | str | Unset
        if isinstance(self.monitoring_window, Unset):
            monitoring_window = UNSET
        else:
            monitoring_window = self.monitoring_window

        order_id: None | str | Unset
        if isinstance(self.order_id, Unset):
            order_id = UNSET
        else:
            order_id = self.order_id

        redirect_url: None | str | Unset
        if isinstance(self.redirect_url, Unset):
            redirect_url = UNSET
        else:
            redirect_url = self.redirect_url

        refund_address: None | str | Unset
        if isinstance(self.refund_address, Unset):
            refund_address = UNSET
        else:
            refund_address = self.refund_address

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        ttl: None | str | Unset
        if isinstance(self.ttl, Unset):
            ttl = UNSET
        else:
            ttl = self.ttl

        underpayment_tolerance: None | str | Unset
        if isinstance(self.underpayment_tolerance, Unset):
            underpayment_tolerance = UNSET
        else:
            underpayment_tolerance = self.underpayment_tolerance


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "amount": amount,
        })
        if asset is not UNSET:
            field_dict["asset"] = asset
        if customer_reference is not UNSET:
            field_dict["customer_reference"] = customer_reference
        if description is not UNSET:
            field_dict["description"] = description
        if expire_time is not UNSET:
            field_dict["expire_time"] = expire_time
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if monitoring_window is not UNSET:
            field_dict["monitoring_window"] = monitoring_window
        if order_id is not UNSET:
            field_dict["order_id"] = order_id
        if redirect_url is not UNSET:
            field_dict["redirect_url"] = redirect_url
        if refund_address is not UNSET:
            field_dict["refund_address"] = refund_address
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if ttl is not UNSET:
            field_dict["ttl"] = ttl
        if underpayment_tolerance is not UNSET:
            field_dict["underpayment_tolerance"] = underpayment_tolerance

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_invoice_request_metadata_type_0 import CreateInvoiceRequestMetadataType0 # noqa: PLC0415
        d = dict(src_dict)
        amount = d.pop("amount")

        def _parse_asset(data: object) -> CreateInvoiceRequestAssetType1 | CreateInvoiceRequestAssetType2Type1 | CreateInvoiceRequestAssetType3Type1 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_1 = CreateInvoiceRequestAssetType1(data)



                return asset_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_2_type_1 = CreateInvoiceRequestAssetType2Type1(data)



                return asset_type_2_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, str):
                    raise TypeError()
                asset_type_3_type_1 = CreateInvoiceRequestAssetType3Type1(data)



                return asset_type_3_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateInvoiceRequestAssetType1 | CreateInvoiceRequestAssetType2Type1 | CreateInvoiceRequestAssetType3Type1 | None | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_customer_reference(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        customer_reference = _parse_customer_reference(d.pop("customer_reference", UNSET))


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_expire_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                expire_time_type_0 = datetime.datetime.fromisoformat(data)



                return expire_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        expire_time = _parse_expire_time(d.pop("expire_time", UNSET))


        def _parse_metadata(data: object) -> CreateInvoiceRequestMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = CreateInvoiceRequestMetadataType0.from_dict(data)



                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateInvoiceRequestMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))


        def _parse_monitoring_window(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        monitoring_window = _parse_monitoring_window(d.pop("monitoring_window", UNSET))


        def _parse_order_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        order_id = _parse_order_id(d.pop("order_id", UNSET))


        def _parse_redirect_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        redirect_url = _parse_redirect_url(d.pop("redirect_url", UNSET))


        def _parse_refund_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        refund_address = _parse_refund_address(d.pop("refund_address", UNSET))


        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))


        def _parse_ttl(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ttl = _parse_ttl(d.pop("ttl", UNSET))


        def _parse_underpayment_tolerance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        underpayment_tolerance = _parse_underpayment_tolerance(d.pop("underpayment_tolerance", UNSET))


        create_invoice_request = cls(
            amount=amount,
            asset=asset,
            customer_reference=customer_reference,
            description=description,
            expire_time=expire_time,
            metadata=metadata,
            monitoring_window=monitoring_window,
            order_id=order_id,
            redirect_url=redirect_url,
            refund_address=refund_address,
            request_id=request_id,
            ttl=ttl,
            underpayment_tolerance=underpayment_tolerance,
        )

        return create_invoice_request

