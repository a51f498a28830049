from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.invoice_exception import InvoiceException
from ..models.invoice_status import InvoiceStatus
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.invoice_metadata_type_0 import InvoiceMetadataType0
  from ..models.payment import Payment





T = TypeVar("T", bound="Invoice")



@_attrs_define
class Invoice:
    """ An invoice: a request for an exact amount of a token, paid to a deposit address made for it alone. Lifecycle: OPEN
    -> PROCESSING -> PAID, or EXPIRED, or CANCELED; exceptions are flagged, not states.

        Attributes:
            amount (None | str | Unset): Amount due, exact decimal string in token units (e.g. "10.50").
            amount_base_units (None | str | Unset): Amount due, integer string in the token's base units (e.g.
                "10500000000000000000" for 18 decimals).
            amount_paid (None | str | Unset): Amount credited so far from final payments, decimal string in token units.
            amount_paid_base_units (None | str | Unset): Amount credited so far from final payments, integer string in base
                units.
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            cancel_time (datetime.datetime | None | Unset): When the invoice was canceled; unset otherwise.
            chain_id (None | str | Unset): EIP-155 chain id (56 for BNB Smart Chain mainnet).
            checkout_url (None | str | Unset): URL of the hosted checkout page for this invoice.
            create_time (datetime.datetime | None | Unset): When the invoice was created.
            customer_reference (None | str | Unset): Merchant's customer reference.
            deposit_address (None | str | Unset): Address the customer pays to (0x-prefixed, checksummed); a counterfactual
                CREATE2 forwarder.
            description (None | str | Unset): Free text shown to the customer on the checkout page.
            exceptions (list[InvoiceException] | None | Unset): Exception flags raised on this invoice; empty when none. An
                invoice may carry several.
            expire_time (datetime.datetime | None | Unset): When an unpaid invoice becomes EXPIRED.
            fee (None | str | Unset): Platform fee charged on what has been paid (credited at finality), decimal string in
                token units: the fee plan the invoice was created under applied to amount_paid (docs/payouts.md, "Fee plans").
            fee_base_units (None | str | Unset): Platform fee charged, integer string in base units.
            id (None | str | Unset): Unique invoice id, e.g. "inv_01HV...".
            merchant_id (None | str | Unset): Id of the merchant that owns the invoice.
            metadata (InvoiceMetadataType0 | None | Unset): Merchant's own key/value data, returned unchanged and included
                in webhooks.
            monitor_until_time (datetime.datetime | None | Unset): End of the monitoring window: late payments until then
                are credited and flagged PAID_LATE.
            net_amount (None | str | Unset): What the merchant is credited: amount_paid - fee, decimal string in token
                units.
            net_amount_base_units (None | str | Unset): What the merchant is credited, integer string in base units.
            order_id (None | str | Unset): Merchant's order reference.
            paid_time (datetime.datetime | None | Unset): When the invoice became PAID; unset otherwise.
            payment_uri (None | str | Unset): EIP-681 payment URI for wallets, e.g.
                "ethereum:0x55d3...@56/transfer?address=0xabc...&uint256=1.05e19".
            payments (list[Payment] | None | Unset): On-chain payments seen for this invoice, oldest first.
            redirect_url (None | str | Unset): Where the checkout page sends the customer after payment.
            refund_address (None | str | Unset): Where an overpayment is refunded to (0x-prefixed, checksummed), as given at
                creation; empty when none.
            status (InvoiceStatus | None | Unset): Current lifecycle status.
            token_contract (None | str | Unset): Token contract address (0x-prefixed, EIP-55 checksummed) that payments must
                use.
            token_decimals (int | None | Unset): Decimals of the token (18 for BSC-USD).
            underpayment_tolerance (None | str | Unset): Shortfall accepted as paid in full, decimal string in token units.
            underpayment_tolerance_base_units (None | str | Unset): Shortfall accepted as paid in full, integer string in
                base units.
            update_time (datetime.datetime | None | Unset): When the invoice last changed.
     """

    amount: None | str | Unset = UNSET
    amount_base_units: None | str | Unset = UNSET
    amount_paid: None | str | Unset = UNSET
    amount_paid_base_units: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    cancel_time: datetime.datetime | None | Unset = UNSET
    chain_id: None | str | Unset = UNSET
    checkout_url: None | str | Unset = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    customer_reference: None | str | Unset = UNSET
    deposit_address: None | str | Unset = UNSET
    description: None | str | Unset = UNSET
    exceptions: list[InvoiceException] | None | Unset = UNSET
    expire_time: datetime.datetime | None | Unset = UNSET
    fee: None | str | Unset = UNSET
    fee_base_units: None | str | Unset = UNSET
    id: None | str | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    metadata: InvoiceMetadataType0 | None | Unset = UNSET
    monitor_until_time: datetime.datetime | None | Unset = UNSET
    net_amount: None | str | Unset = UNSET
    net_amount_base_units: None | str | Unset = UNSET
    order_id: None | str | Unset = UNSET
    paid_time: datetime.datetime | None | Unset = UNSET
    payment_uri: None | str | Unset = UNSET
    payments: list[Payment] | None | Unset = UNSET
    redirect_url: None | str | Unset = UNSET
    refund_address: None | str | Unset = UNSET
    status: InvoiceStatus | None | Unset = UNSET
    token_contract: None | str | Unset = UNSET
    token_decimals: int | None | Unset = UNSET
    underpayment_tolerance: None | str | Unset = UNSET
    underpayment_tolerance_base_units: None | str | Unset = UNSET
    update_time: datetime.datetime | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.invoice_metadata_type_0 import InvoiceMetadataType0 # noqa: PLC0415
        from ..models.payment import Payment # noqa: PLC0415
        amount: None | str | Unset
        if isinstance(self.amount, Unset):
            amount = UNSET
        else:
            amount = self.amount

        amount_base_units: None | str | Unset
        if isinstance(self.amount_base_units, Unset):
            amount_base_units = UNSET
        else:
            amount_base_units = self.amount_base_units

        amount_paid: None | str | Unset
        if isinstance(self.amount_paid, Unset):
            amount_paid = UNSET
        else:
            amount_paid = self.amount_paid

        amount_paid_base_units: None | str | Unset
        if isinstance(self.amount_paid_base_units, Unset):
            amount_paid_base_units = UNSET
        else:
            amount_paid_base_units = self.amount_paid_base_units

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        cancel_time: None | str | Unset
        if isinstance(self.cancel_time, Unset):
            cancel_time = UNSET
        elif isinstance(self.cancel_time, datetime.datetime):
            cancel_time = self.cancel_time.isoformat()
        else:
            cancel_time = self.cancel_time

        chain_id: None | str | Unset
        if isinstance(self.chain_id, Unset):
            chain_id = UNSET
        else:
            chain_id = self.chain_id

        checkout_url: None | str | Unset
        if isinstance(self.checkout_url, Unset):
            checkout_url = UNSET
        else:
            checkout_url = self.checkout_url

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        customer_reference: None | str | Unset
        if isinstance(self.customer_reference, Unset):
            customer_reference = UNSET
        else:
            customer_reference = self.customer_reference

        deposit_address: None | str | Unset
        if isinstance(self.deposit_address, Unset):
            deposit_address = UNSET
        else:
            deposit_address = self.deposit_address

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        exceptions: list[str] | None | Unset
        if isinstance(self.exceptions, Unset):
            exceptions = UNSET
        elif isinstance(self.exceptions, list):
            exceptions = []
            for exceptions_type_0_item_data in self.exceptions:
                exceptions_type_0_item = exceptions_type_0_item_data.value
                exceptions.append(exceptions_type_0_item)


        else:
            exceptions = self.exceptions

        expire_time: None | str | Unset
        if isinstance(self.expire_time, Unset):
            expire_time = UNSET
        elif isinstance(self.expire_time, datetime.datetime):
            expire_time = self.expire_time.isoformat()
        else:
            expire_time = self.expire_time

        fee: None | str | Unset
        if isinstance(self.fee, Unset):
            fee = UNSET
        else:
            fee = self.fee

        fee_base_units: None | str | Unset
        if isinstance(self.fee_base_units, Unset):
            fee_base_units = UNSET
        else:
            fee_base_units = self.fee_base_units

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

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, InvoiceMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        monitor_until_time: None | str | Unset
        if isinstance(self.monitor_until_time, Unset):
            monitor_until_time = UNSET
        elif isinstance(self.monitor_until_time, datetime.datetime):
            monitor_until_time = self.monitor_until_time.isoformat()
        else:
            monitor_until_time = self.monitor_until_time

        net_amount: None | str | Unset
        if isinstance(self.net_amount, Unset):
            net_amount = UNSET
        else:
            net_amount = self.net_amount

        net_amount_base_units: None | str | Unset
        if isinstance(self.net_amount_base_units, Unset):
            net_amount_base_units = UNSET
        else:
            net_amount_base_units = self.net_amount_base_units

        order_id: None | str | Unset
        if isinstance(self.order_id, Unset):
            order_id = UNSET
        else:
            order_id = self.order_id

        paid_time: None | str | Unset
        if isinstance(self.paid_time, Unset):
            paid_time = UNSET
        elif isinstance(self.paid_time, datetime.datetime):
            paid_time = self.paid_time.isoformat()
        else:
            paid_time = self.paid_time

        payment_uri: None | str | Unset
        if isinstance(self.payment_uri, Unset):
            payment_uri = UNSET
        else:
            payment_uri = self.payment_uri

        payments: list[dict[str, Any]] | None | Unset
        if isinstance(self.payments, Unset):
            payments = UNSET
        elif isinstance(self.payments, list):
            payments = []
            for payments_type_0_item_data in self.payments:
                payments_type_0_item = payments_type_0_item_data.to_dict()
                payments.append(payments_type_0_item)


        else:
            payments = self.payments

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

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, InvoiceStatus):
            status = self.status.value
        else:
            status = self.status

        token_contract: None | str | Unset
        if isinstance(self.token_contract, Unset):
            token_contract = UNSET
        else:
            token_contract = self.token_contract

        token_decimals: int | None | Unset
        if isinstance(self.token_decimals, Unset):
            token_decimals = UNSET
        else:
            token_decimals = self.token_decimals

        underpayment_tolerance: None | str | Unset
        if isinstance(self.underpayment_tolerance, Unset):
            underpayment_tolerance = UNSET
        else:
            underpayment_tolerance = self.underpayment_tolerance

        underpayment_tolerance_base_units: None | str | Unset
        if isinstance(self.underpayment_tolerance_base_units, Unset):
            underpayment_tolerance_base_units = UNSET
        else:
            underpayment_tolerance_base_units = self.underpayment_tolerance_base_units

        update_time: None | str | Unset
        if isinstance(self.update_time, Unset):
            update_time = UNSET
        elif isinstance(self.update_time, datetime.datetime):
            update_time = self.update_time.isoformat()
        else:
            update_time = self.update_time


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if amount is not UNSET:
            field_dict["amount"] = amount
        if amount_base_units is not UNSET:
            field_dict["amount_base_units"] = amount_base_units
        if amount_paid is not UNSET:
            field_dict["amount_paid"] = amount_paid
        if amount_paid_base_units is not UNSET:
            field_dict["amount_paid_base_units"] = amount_paid_base_units
        if asset is not UNSET:
            field_dict["asset"] = asset
        if cancel_time is not UNSET:
            field_dict["cancel_time"] = cancel_time
        if chain_id is not UNSET:
            field_dict["chain_id"] = chain_id
        if checkout_url is not UNSET:
            field_dict["checkout_url"] = checkout_url
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if customer_reference is not UNSET:
            field_dict["customer_reference"] = customer_reference
        if deposit_address is not UNSET:
            field_dict["deposit_address"] = deposit_address
        if description is not UNSET:
            field_dict["description"] = description
        if exceptions is not UNSET:
            field_dict["exceptions"] = exceptions
        if expire_time is not UNSET:
            field_dict["expire_time"] = expire_time
        if fee is not UNSET:
            field_dict["fee"] = fee
        if fee_base_units is not UNSET:
            field_dict["fee_base_units"] = fee_base_units
        if id is not UNSET:
            field_dict["id"] = id
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if monitor_until_time is not UNSET:
            field_dict["monitor_until_time"] = monitor_until_time
        if net_amount is not UNSET:
            field_dict["net_amount"] = net_amount
        if net_amount_base_units is not UNSET:
            field_dict["net_amount_base_units"] = net_amount_base_units
        if order_id is not UNSET:
            field_dict["order_id"] = order_id
        if paid_time is not UNSET:
            field_dict["paid_time"] = paid_time
        if payment_uri is not UNSET:
            field_dict["payment_uri"] = payment_uri
        if payments is not UNSET:
            field_dict["payments"] = payments
        if redirect_url is not UNSET:
            field_dict["redirect_url"] = redirect_url
        if refund_address is not UNSET:
            field_dict["refund_address"] = refund_address
        if status is not UNSET:
            field_dict["status"] = status
        if token_contract is not UNSET:
            field_dict["token_contract"] = token_contract
        if token_decimals is not UNSET:
            field_dict["token_decimals"] = token_decimals
        if underpayment_tolerance is not UNSET:
            field_dict["underpayment_tolerance"] = underpayment_tolerance
        if underpayment_tolerance_base_units is not UNSET:
            field_dict["underpayment_tolerance_base_units"] = underpayment_tolerance_base_units
        if update_time is not UNSET:
            field_dict["update_time"] = update_time

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.invoice_metadata_type_0 import InvoiceMetadataType0 # noqa: PLC0415
        from ..models.payment import Payment # noqa: PLC0415
        d = dict(src_dict)
        def _parse_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount = _parse_amount(d.pop("amount", UNSET))


        def _parse_amount_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_base_units = _parse_amount_base_units(d.pop("amount_base_units", UNSET))


        def _parse_amount_paid(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_paid = _parse_amount_paid(d.pop("amount_paid", UNSET))


        def _parse_amount_paid_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        amount_paid_base_units = _parse_amount_paid_base_units(d.pop("amount_paid_base_units", UNSET))


        def _parse_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_cancel_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cancel_time_type_0 = datetime.datetime.fromisoformat(data)



                return cancel_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        cancel_time = _parse_cancel_time(d.pop("cancel_time", UNSET))


        def _parse_chain_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        chain_id = _parse_chain_id(d.pop("chain_id", UNSET))


        def _parse_checkout_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        checkout_url = _parse_checkout_url(d.pop("checkout_url", UNSET))


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


        def _parse_customer_reference(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        customer_reference = _parse_customer_reference(d.pop("customer_reference", UNSET))


        def _parse_deposit_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        deposit_address = _parse_deposit_address(d.pop("deposit_address", UNSET))


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_exceptions(data: object) -> list[InvoiceException] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                exceptions_type_0 = []
                _exceptions_type_0 = data
                for exceptions_type_0_item_data in (_exceptions_type_0):
                    exceptions_type_0_item = InvoiceException(exceptions_type_0_item_data)



                    exceptions_type_0.append(exceptions_type_0_item)

                return exceptions_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[InvoiceException] | None | Unset, data)

        exceptions = _parse_exceptions(d.pop("exceptions", UNSET))


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


        def _parse_fee(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fee = _parse_fee(d.pop("fee", UNSET))


        def _parse_fee_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        fee_base_units = _parse_fee_base_units(d.pop("fee_base_units", UNSET))


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


        def _parse_metadata(data: object) -> InvoiceMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = InvoiceMetadataType0.from_dict(data)



                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(InvoiceMetadataType0 | None | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))


        def _parse_monitor_until_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                monitor_until_time_type_0 = datetime.datetime.fromisoformat(data)



                return monitor_until_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        monitor_until_time = _parse_monitor_until_time(d.pop("monitor_until_time", UNSET))


        def _parse_net_amount(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        net_amount = _parse_net_amount(d.pop("net_amount", UNSET))


        def _parse_net_amount_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        net_amount_base_units = _parse_net_amount_base_units(d.pop("net_amount_base_units", UNSET))


        def _parse_order_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        order_id = _parse_order_id(d.pop("order_id", UNSET))


        def _parse_paid_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                paid_time_type_0 = datetime.datetime.fromisoformat(data)



                return paid_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        paid_time = _parse_paid_time(d.pop("paid_time", UNSET))


        def _parse_payment_uri(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        payment_uri = _parse_payment_uri(d.pop("payment_uri", UNSET))


        def _parse_payments(data: object) -> list[Payment] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                payments_type_0 = []
                _payments_type_0 = data
                for payments_type_0_item_data in (_payments_type_0):
                    payments_type_0_item = Payment.from_dict(payments_type_0_item_data)



                    payments_type_0.append(payments_type_0_item)

                return payments_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Payment] | None | Unset, data)

        payments = _parse_payments(d.pop("payments", UNSET))


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


        def _parse_status(data: object) -> InvoiceStatus | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = InvoiceStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(InvoiceStatus | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))


        def _parse_token_contract(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        token_contract = _parse_token_contract(d.pop("token_contract", UNSET))


        def _parse_token_decimals(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        token_decimals = _parse_token_decimals(d.pop("token_decimals", UNSET))


        def _parse_underpayment_tolerance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        underpayment_tolerance = _parse_underpayment_tolerance(d.pop("underpayment_tolerance", UNSET))


        def _parse_underpayment_tolerance_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        underpayment_tolerance_base_units = _parse_underpayment_tolerance_base_units(d.pop("underpayment_tolerance_base_units", UNSET))


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


        invoice = cls(
            amount=amount,
            amount_base_units=amount_base_units,
            amount_paid=amount_paid,
            amount_paid_base_units=amount_paid_base_units,
            asset=asset,
            cancel_time=cancel_time,
            chain_id=chain_id,
            checkout_url=checkout_url,
            create_time=create_time,
            customer_reference=customer_reference,
            deposit_address=deposit_address,
            description=description,
            exceptions=exceptions,
            expire_time=expire_time,
            fee=fee,
            fee_base_units=fee_base_units,
            id=id,
            merchant_id=merchant_id,
            metadata=metadata,
            monitor_until_time=monitor_until_time,
            net_amount=net_amount,
            net_amount_base_units=net_amount_base_units,
            order_id=order_id,
            paid_time=paid_time,
            payment_uri=payment_uri,
            payments=payments,
            redirect_url=redirect_url,
            refund_address=refund_address,
            status=status,
            token_contract=token_contract,
            token_decimals=token_decimals,
            underpayment_tolerance=underpayment_tolerance,
            underpayment_tolerance_base_units=underpayment_tolerance_base_units,
            update_time=update_time,
        )

        return invoice

