from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.payout_status import PayoutStatus
from ..models.payout_trigger import PayoutTrigger
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
  from ..models.payout_metadata_type_0 import PayoutMetadataType0





T = TypeVar("T", bound="Payout")



@_attrs_define
class Payout:
    """ A transfer of the merchant's available balance to one of its settlement addresses. Its amount plus fee is reserved
    (taken from available into reserved) from the moment it is accepted until it is confirmed or released.

        Attributes:
            amount (None | str | Unset): Amount the destination receives, decimal string in token units.
            amount_base_units (None | str | Unset): Amount the destination receives, integer string in base units.
            approval_id (None | str | Unset): Id of the approval this payout waits for; empty when none is needed.
            asset (None | str | Unset): Asset symbol, e.g. "USDT".
            block_number (None | str | Unset): Block holding the transaction once mined; 0 before.
            broadcast_time (datetime.datetime | None | Unset): When the transaction was broadcast; unset before.
            cancel_time (datetime.datetime | None | Unset): When the payout was canceled; unset otherwise.
            chain_id (None | str | Unset): EIP-155 chain id.
            confirm_time (datetime.datetime | None | Unset): When the transaction's block became final; unset before.
            create_time (datetime.datetime | None | Unset): When the payout was created.
            description (None | str | Unset): Free text for the merchant's own use.
            destination_address (None | str | Unset): Address receiving the funds (0x-prefixed, checksummed).
            failure_reason (None | str | Unset): Why the payout failed or was rejected; empty otherwise.
            fee (None | str | Unset): Fee charged on top of the amount, decimal string in token units.
            fee_base_units (None | str | Unset): Fee charged on top of the amount, integer string in base units.
            id (None | str | Unset): Unique payout id, e.g. "po_01HV...".
            invoice_id (None | str | Unset): Set only on refunds as settlement's internal listing shows them (ids "rf_..."):
                the invoice refunded. Empty on the merchant API's payouts.
            merchant_id (None | str | Unset): Id of the merchant that owns the payout.
            metadata (None | PayoutMetadataType0 | Unset): Merchant's own key/value data.
            settlement_address_id (None | str | Unset): Id of the settlement address the payout goes to (docs/payouts.md,
                "Settlement addresses").
            status (None | PayoutStatus | Unset): Current status.
            token_contract (None | str | Unset): Token contract address.
            total (None | str | Unset): Amount plus fee: what leaves the merchant's balance, decimal string in token units.
            total_base_units (None | str | Unset): Amount plus fee, integer string in base units.
            trigger (None | PayoutTrigger | Unset): What made the payout: the merchant (CreatePayout) or its payout
                schedule.
            tx_hash (None | str | Unset): Transaction hash once broadcast (0x-prefixed hex).
            update_time (datetime.datetime | None | Unset): When the payout last changed.
     """

    amount: None | str | Unset = UNSET
    amount_base_units: None | str | Unset = UNSET
    approval_id: None | str | Unset = UNSET
    asset: None | str | Unset = UNSET
    block_number: None | str | Unset = UNSET
    broadcast_time: datetime.datetime | None | Unset = UNSET
    cancel_time: datetime.datetime | None | Unset = UNSET
    chain_id: None | str | Unset = UNSET
    confirm_time: datetime.datetime | None | Unset = UNSET
    create_time: datetime.datetime | None | Unset = UNSET
    description: None | str | Unset = UNSET
    destination_address: None | str | Unset = UNSET
    failure_reason: None | str | Unset = UNSET
    fee: None | str | Unset = UNSET
    fee_base_units: None | str | Unset = UNSET
    id: None | str | Unset = UNSET
    invoice_id: None | str | Unset = UNSET
    merchant_id: None | str | Unset = UNSET
    metadata: None | PayoutMetadataType0 | Unset = UNSET
    settlement_address_id: None | str | Unset = UNSET
    status: None | PayoutStatus | Unset = UNSET
    token_contract: None | str | Unset = UNSET
    total: None | str | Unset = UNSET
    total_base_units: None | str | Unset = UNSET
    trigger: None | PayoutTrigger | Unset = UNSET
    tx_hash: None | str | Unset = UNSET
    update_time: datetime.datetime | None | Unset = UNSET





    def to_dict(self) -> dict[str, Any]:
        from ..models.payout_metadata_type_0 import PayoutMetadataType0 # noqa: PLC0415
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

        approval_id: None | str | Unset
        if isinstance(self.approval_id, Unset):
            approval_id = UNSET
        else:
            approval_id = self.approval_id

        asset: None | str | Unset
        if isinstance(self.asset, Unset):
            asset = UNSET
        else:
            asset = self.asset

        block_number: None | str | Unset
        if isinstance(self.block_number, Unset):
            block_number = UNSET
        else:
            block_number = self.block_number

        broadcast_time: None | str | Unset
        if isinstance(self.broadcast_time, Unset):
            broadcast_time = UNSET
        elif isinstance(self.broadcast_time, datetime.datetime):
            broadcast_time = self.broadcast_time.isoformat()
        else:
            broadcast_time = self.broadcast_time

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

        confirm_time: None | str | Unset
        if isinstance(self.confirm_time, Unset):
            confirm_time = UNSET
        elif isinstance(self.confirm_time, datetime.datetime):
            confirm_time = self.confirm_time.isoformat()
        else:
            confirm_time = self.confirm_time

        create_time: None | str | Unset
        if isinstance(self.create_time, Unset):
            create_time = UNSET
        elif isinstance(self.create_time, datetime.datetime):
            create_time = self.create_time.isoformat()
        else:
            create_time = self.create_time

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        destination_address: None | str | Unset
        if isinstance(self.destination_address, Unset):
            destination_address = UNSET
        else:
            destination_address = self.destination_address

        failure_reason: None | str | Unset
        if isinstance(self.failure_reason, Unset):
            failure_reason = UNSET
        else:
            failure_reason = self.failure_reason

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

        invoice_id: None | str | Unset
        if isinstance(self.invoice_id, Unset):
            invoice_id = UNSET
        else:
            invoice_id = self.invoice_id

        merchant_id: None | str | Unset
        if isinstance(self.merchant_id, Unset):
            merchant_id = UNSET
        else:
            merchant_id = self.merchant_id

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, PayoutMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        settlement_address_id: None | str | Unset
        if isinstance(self.settlement_address_id, Unset):
            settlement_address_id = UNSET
        else:
            settlement_address_id = self.settlement_address_id

        status: None | str | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        elif isinstance(self.status, PayoutStatus):
            status = self.status.value
        else:
            status = self.status

        token_contract: None | str | Unset
        if isinstance(self.token_contract, Unset):
            token_contract = UNSET
        else:
            token_contract = self.token_contract

        total: None | str | Unset
        if isinstance(self.total, Unset):
            total = UNSET
        else:
            total = self.total

        total_base_units: None | str | Unset
        if isinstance(self.total_base_units, Unset):
            total_base_units = UNSET
        else:
            total_base_units = self.total_base_units

        trigger: None | str | Unset
        if isinstance(self.trigger, Unset):
            trigger = UNSET
        elif isinstance(self.trigger, PayoutTrigger):
            trigger = self.trigger.value
        else:
            trigger = self.trigger

        tx_hash: None | str | Unset
        if isinstance(self.tx_hash, Unset):
            tx_hash = UNSET
        else:
            tx_hash = self.tx_hash

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
        if approval_id is not UNSET:
            field_dict["approval_id"] = approval_id
        if asset is not UNSET:
            field_dict["asset"] = asset
        if block_number is not UNSET:
            field_dict["block_number"] = block_number
        if broadcast_time is not UNSET:
            field_dict["broadcast_time"] = broadcast_time
        if cancel_time is not UNSET:
            field_dict["cancel_time"] = cancel_time
        if chain_id is not UNSET:
            field_dict["chain_id"] = chain_id
        if confirm_time is not UNSET:
            field_dict["confirm_time"] = confirm_time
        if create_time is not UNSET:
            field_dict["create_time"] = create_time
        if description is not UNSET:
            field_dict["description"] = description
        if destination_address is not UNSET:
            field_dict["destination_address"] = destination_address
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if fee is not UNSET:
            field_dict["fee"] = fee
        if fee_base_units is not UNSET:
            field_dict["fee_base_units"] = fee_base_units
        if id is not UNSET:
            field_dict["id"] = id
        if invoice_id is not UNSET:
            field_dict["invoice_id"] = invoice_id
        if merchant_id is not UNSET:
            field_dict["merchant_id"] = merchant_id
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if settlement_address_id is not UNSET:
            field_dict["settlement_address_id"] = settlement_address_id
        if status is not UNSET:
            field_dict["status"] = status
        if token_contract is not UNSET:
            field_dict["token_contract"] = token_contract
        if total is not UNSET:
            field_dict["total"] = total
        if total_base_units is not UNSET:
            field_dict["total_base_units"] = total_base_units
        if trigger is not UNSET:
            field_dict["trigger"] = trigger
        if tx_hash is not UNSET:
            field_dict["tx_hash"] = tx_hash
        if update_time is not UNSET:
            field_dict["update_time"] = update_time

        return field_dict



    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.payout_metadata_type_0 import PayoutMetadataType0 # noqa: PLC0415
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


        def _parse_approval_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        approval_id = _parse_approval_id(d.pop("approval_id", UNSET))


        def _parse_asset(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        asset = _parse_asset(d.pop("asset", UNSET))


        def _parse_block_number(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        block_number = _parse_block_number(d.pop("block_number", UNSET))


        def _parse_broadcast_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                broadcast_time_type_0 = datetime.datetime.fromisoformat(data)



                return broadcast_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        broadcast_time = _parse_broadcast_time(d.pop("broadcast_time", UNSET))


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


        def _parse_confirm_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                confirm_time_type_0 = datetime.datetime.fromisoformat(data)



                return confirm_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        confirm_time = _parse_confirm_time(d.pop("confirm_time", UNSET))


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


        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        def _parse_destination_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        destination_address = _parse_destination_address(d.pop("destination_address", UNSET))


        def _parse_failure_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason", UNSET))


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


        def _parse_invoice_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        invoice_id = _parse_invoice_id(d.pop("invoice_id", UNSET))


        def _parse_merchant_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        merchant_id = _parse_merchant_id(d.pop("merchant_id", UNSET))


        def _parse_metadata(data: object) -> None | PayoutMetadataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = PayoutMetadataType0.from_dict(data)



                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PayoutMetadataType0 | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))


        def _parse_settlement_address_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        settlement_address_id = _parse_settlement_address_id(d.pop("settlement_address_id", UNSET))


        def _parse_status(data: object) -> None | PayoutStatus | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_1 = PayoutStatus(data)



                return status_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PayoutStatus | Unset, data)

        status = _parse_status(d.pop("status", UNSET))


        def _parse_token_contract(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        token_contract = _parse_token_contract(d.pop("token_contract", UNSET))


        def _parse_total(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        total = _parse_total(d.pop("total", UNSET))


        def _parse_total_base_units(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        total_base_units = _parse_total_base_units(d.pop("total_base_units", UNSET))


        def _parse_trigger(data: object) -> None | PayoutTrigger | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                trigger_type_1 = PayoutTrigger(data)



                return trigger_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PayoutTrigger | Unset, data)

        trigger = _parse_trigger(d.pop("trigger", UNSET))


        def _parse_tx_hash(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        tx_hash = _parse_tx_hash(d.pop("tx_hash", UNSET))


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


        payout = cls(
            amount=amount,
            amount_base_units=amount_base_units,
            approval_id=approval_id,
            asset=asset,
            block_number=block_number,
            broadcast_time=broadcast_time,
            cancel_time=cancel_time,
            chain_id=chain_id,
            confirm_time=confirm_time,
            create_time=create_time,
            description=description,
            destination_address=destination_address,
            failure_reason=failure_reason,
            fee=fee,
            fee_base_units=fee_base_units,
            id=id,
            invoice_id=invoice_id,
            merchant_id=merchant_id,
            metadata=metadata,
            settlement_address_id=settlement_address_id,
            status=status,
            token_contract=token_contract,
            total=total,
            total_base_units=total_base_units,
            trigger=trigger,
            tx_hash=tx_hash,
            update_time=update_time,
        )

        return payout

