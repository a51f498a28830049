"""Merchant API servicer: settlement addresses (register, confirm with the emailed code, list, revoke)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
from google.protobuf.json_format import MessageToDict
from stablegate.merchant.v1 import settlement_address_service_pb2 as pb
from stablegate.merchant.v1 import settlement_address_service_pb2_grpc as pb_grpc

from ledger.api.auth import merchant_id
from ledger.api.convert import request_hash, timestamp
from ledger.api.invoices import idempotency_key
from ledger.core import LedgerCore
from ledger.domain import settlement_addresses as rules
from ledger.domain.addresses import parse_address
from ledger.domain.ids import new_id
from ledger.domain.invoices import check_text
from ledger.store import merchants as merchant_store
from ledger.store import notifications as notification_store
from ledger.store import outbox
from ledger.store import settlement_addresses as store
from service_runtime.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from service_runtime.pagination import newest_first_next_token, newest_first_position, page_size

Context = grpc.aio.ServicerContext[Any, Any]


def address_message(record: rules.SettlementAddressRecord, now: dt.datetime) -> pb.SettlementAddress:
    """The API's SettlementAddress, with its status at `now`."""
    return pb.SettlementAddress(
        id=record.id,
        merchant_id=record.merchant_id,
        address=record.address,
        label=record.label,
        status=pb.SettlementAddressStatus.Value(f"SETTLEMENT_ADDRESS_STATUS_{rules.status(record, now)}"),
        confirmed_by=pb.SettlementAddressConfirmation.Value(
            f"SETTLEMENT_ADDRESS_CONFIRMATION_{record.confirmed_by or 'UNSPECIFIED'}"
        ),
        cooling_off_end_time=timestamp(record.cooling_off_end),
        create_time=timestamp(record.create_time),
        confirm_time=timestamp(record.confirm_time),
        revoke_time=timestamp(record.revoke_time),
    )


async def announce(
    conn: asyncpg.Connection, record: rules.SettlementAddressRecord, now: dt.datetime, *, event_type: str
) -> str:
    """Write a `settlement_address.*` event (the address as its public JSON) in the caller's transaction."""
    data = MessageToDict(address_message(record, now), preserving_proto_field_name=True)
    return await outbox.append(
        conn, event_type=event_type, merchant_id=record.merchant_id, subject_id=record.id, data=data
    )


def not_found(address_id: str) -> NotFound:
    """The refusal for an address the caller does not have."""
    return NotFound(
        f"no settlement address {address_id}", reason="SETTLEMENT_ADDRESS_NOT_FOUND", metadata={"field": "id"}
    )


class SettlementAddresses(pb_grpc.SettlementAddressServiceServicer):
    """Register, confirm, read, list and revoke the calling merchant's settlement addresses."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def CreateSettlementAddress(
        self, request: pb.CreateSettlementAddressRequest, context: Context
    ) -> pb.CreateSettlementAddressResponse:
        """Register an address (idempotent by request id); its code is emailed; `settlement_address.created`."""
        owner = merchant_id()
        s = self.core.settings
        if not request.address:
            raise InvalidArgument("address is required", reason="FIELD_REQUIRED", metadata={"field": "address"})
        address = parse_address(request.address, field="address")
        label = check_text(request.label, "label", 100)
        request_id = check_text(request.request_id or idempotency_key(context) or new_id("req"), "request_id", 200)
        digest = request_hash(request)
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            merchant = await merchant_store.get(conn, owner, for_update=True)  # serialises one merchant's creates
            assert merchant is not None
            replay = await store.find_by_request(conn, owner, request_id)
            if replay is not None:
                if replay[1] != digest:
                    raise AlreadyExists(
                        "request_id was already used with a different request",
                        reason="REQUEST_ID_REUSED",
                        metadata={"field": "request_id"},
                    )
                return pb.CreateSettlementAddressResponse(settlement_address=address_message(replay[0], now))
            taken = await store.live_with_address(conn, owner, address)
            if taken is not None:
                raise AlreadyExists(
                    f"{address} is already registered ({taken.id})",
                    reason="SETTLEMENT_ADDRESS_EXISTS",
                    metadata={"field": "address", "settlementAddressId": taken.id},
                )
            if await store.count_live(conn, owner) >= s.settlement_addresses_max:
                raise FailedPrecondition(
                    f"at most {s.settlement_addresses_max} settlement addresses; revoke one first",
                    reason="SETTLEMENT_ADDRESS_LIMIT",
                    metadata={"limit": str(s.settlement_addresses_max)},
                )
            if not merchant.contact_email:
                raise FailedPrecondition(
                    "the merchant has no contact email for the confirmation code",
                    reason="CONTACT_EMAIL_MISSING",
                    metadata={},
                )
            code = rules.new_code()
            record = rules.SettlementAddressRecord(
                id=new_id("sad"),
                merchant_id=owner,
                address=address,
                label=label,
                state="PENDING",
                confirmed_by=None,
                cooling_off_end=now + dt.timedelta(seconds=s.settlement_address_cooling_off_seconds),
                code_expire_time=now + dt.timedelta(seconds=s.settlement_address_code_ttl_seconds),
                code_attempts=0,
                create_time=now,
                update_time=now,
                confirm_time=None,
                revoke_time=None,
            )
            stored = await store.insert(
                conn, record, code_hash=rules.code_hash(record.id, code), request_id=request_id, request_hash=digest
            )
            assert stored is not None, "the merchant row lock serialises registrations"
            event_id = await announce(conn, stored, now, event_type="settlement_address.created")
            # The code goes by email, in the same transaction: the notifier sends it (retried like any notification).
            await notification_store.insert(
                conn,
                [
                    notification_store.Notification(
                        id=new_id("ntf"),
                        merchant_id=owner,
                        event_id=event_id,
                        event_type="settlement_address.created",
                        channel="email",
                        recipient=merchant.contact_email,
                        subject="[stablegate] Confirm your new settlement address",
                        body=confirmation_email(stored, code),
                        event_time=now,
                    )
                ],
                now,
            )
        return pb.CreateSettlementAddressResponse(settlement_address=address_message(stored, now))

    async def GetSettlementAddress(
        self, request: pb.GetSettlementAddressRequest, context: Context
    ) -> pb.GetSettlementAddressResponse:
        """One of the caller's addresses."""
        async with self.core.pool.acquire() as conn:
            found = await store.get(conn, merchant_id(), request.id)
        if found is None:
            raise not_found(request.id)
        return pb.GetSettlementAddressResponse(settlement_address=address_message(found[0], self.core.now()))

    async def ListSettlementAddresses(
        self, request: pb.ListSettlementAddressesRequest, context: Context
    ) -> pb.ListSettlementAddressesResponse:
        """The caller's addresses, newest first."""
        owner = merchant_id()
        limit = page_size(request.page_size)
        query = f"merchant={owner}"
        after = newest_first_position(request.page_token, query)
        async with self.core.pool.acquire() as conn:
            rows = await store.list_page(conn, owner, after=after, limit=limit)
        now = self.core.now()
        return pb.ListSettlementAddressesResponse(
            settlement_addresses=[address_message(r, now) for r in rows],
            next_page_token=newest_first_next_token(rows, limit, query),
        )

    async def ConfirmSettlementAddress(
        self, request: pb.ConfirmSettlementAddressRequest, context: Context
    ) -> pb.ConfirmSettlementAddressResponse:
        """Confirm a pending address with its emailed code; `settlement_address.confirmed`.

        A wrong code is counted (that count is the one change a refused call makes: it bounds guessing); after the
        configured number of wrong codes, or once the code expired, only an admin can confirm the address.
        """
        owner = merchant_id()
        if not request.code.strip():
            raise InvalidArgument("code is required", reason="FIELD_REQUIRED", metadata={"field": "code"})
        if not rules.CODE_PATTERN.fullmatch(request.code.strip()):
            # Not a code at all: refused before the address is read, so it is not counted as an attempt.
            raise InvalidArgument(
                f"code is the {rules.CODE_DIGITS} digits of the confirmation email",
                reason="FIELD_INVALID",
                metadata={"field": "code"},
            )
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            found = await store.get(conn, owner, request.id, lock=True)
            if found is None:
                raise not_found(request.id)
            record, stored_hash = found
            if record.state == "CONFIRMED":
                return pb.ConfirmSettlementAddressResponse(settlement_address=address_message(record, now))
            if record.state == "REVOKED":
                raise FailedPrecondition(
                    "the address was revoked", reason="SETTLEMENT_ADDRESS_REVOKED", metadata={"field": "id"}
                )
            attempts = self.core.settings.settlement_address_code_attempts
            if record.code_attempts >= attempts:
                raise FailedPrecondition(
                    "too many wrong codes; an admin must approve this address, or register it again",
                    reason="CONFIRMATION_ATTEMPTS_EXHAUSTED",
                    metadata={"field": "code"},
                )
            if now >= record.code_expire_time:
                raise FailedPrecondition(
                    "the confirmation code expired; an admin must approve this address, or register it again",
                    reason="CONFIRMATION_CODE_EXPIRED",
                    metadata={"field": "code"},
                )
            if rules.code_matches(record.id, request.code, stored_hash):
                confirmed = await store.confirm(conn, record.id, by="EMAIL_CODE", now=now)
                await announce(conn, confirmed, now, event_type="settlement_address.confirmed")
                return pb.ConfirmSettlementAddressResponse(settlement_address=address_message(confirmed, now))
            # Counted in its own committed transaction before the refusal: it bounds guessing.
            await store.count_attempt(conn, record.id, now)
            attempts_left = attempts - record.code_attempts - 1
        raise InvalidArgument(
            "the confirmation code is wrong",
            reason="CONFIRMATION_CODE_WRONG",
            metadata={"field": "code", "attemptsLeft": str(attempts_left)},
        )

    async def RevokeSettlementAddress(
        self, request: pb.RevokeSettlementAddressRequest, context: Context
    ) -> pb.RevokeSettlementAddressResponse:
        """Revoke an address; revoking a revoked one changes nothing; `settlement_address.revoked`."""
        owner = merchant_id()
        now = self.core.now()
        async with self.core.pool.acquire() as conn, conn.transaction():
            found = await store.get(conn, owner, request.id, lock=True)
            if found is None:
                raise not_found(request.id)
            record = found[0]
            if record.state != "REVOKED":
                record = await store.revoke(conn, record.id, now)
                await announce(conn, record, now, event_type="settlement_address.revoked")
        return pb.RevokeSettlementAddressResponse(settlement_address=address_message(record, now))


def confirmation_email(record: rules.SettlementAddressRecord, code: str) -> str:
    """The body of the confirmation email: the address, the code, and what to do if it was not you."""
    return (
        f"A new settlement address was registered for your stablegate account:\n\n"
        f"    {record.address}  {record.label}\n\n"
        f"Confirmation code: {code}\n\n"
        f"Payouts may go to it only once it is confirmed and after {record.cooling_off_end.isoformat()}.\n"
        f"If you did not register it, revoke it ({record.id}) and rotate your API keys now.\n"
    )
