"""Posting balanced transactions to the journal (accounts are created on first use)."""

from __future__ import annotations

import hashlib

import asyncpg

from ledger.domain.postings import AccountRef, Posting, check_balanced
from ledger.errors import AlreadyExists


def account_code(ref: AccountRef) -> str:
    """The account's unique code, e.g. `merchant:mer_…:available:USDT` or `chain_clearing:USDT`."""
    if ref.merchant_id is not None:
        return f"merchant:{ref.merchant_id}:{ref.kind.removeprefix('merchant_')}:{ref.asset}"
    return f"{ref.kind}:{ref.asset}"


async def account_id(conn: asyncpg.Connection, ref: AccountRef) -> int:
    """The id of the account, created if it does not exist yet."""
    found = await conn.fetchval(
        "INSERT INTO ledger.accounts (code, kind, merchant_id, asset, normal_side) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (code) DO NOTHING RETURNING id",
        account_code(ref),
        ref.kind,
        ref.merchant_id,
        ref.asset,
        ref.normal_side,
    )
    if found is None:
        found = await conn.fetchval("SELECT id FROM ledger.accounts WHERE code = $1", account_code(ref))
    return int(found)


async def balance(conn: asyncpg.Connection, ref: AccountRef, *, for_update: bool = False) -> int:
    """The account's balance in its normal orientation (0 if it does not exist yet)."""
    lock = " FOR UPDATE" if for_update else ""
    value = await conn.fetchval(f"SELECT balance FROM ledger.accounts WHERE code = $1{lock}", account_code(ref))
    return int(value) if value is not None else 0


def _digest(posting: Posting) -> bytes:
    lines = [f"{posting.kind}"] + [f"{account_code(e.account)}|{e.side}|{e.amount}" for e in posting.entries]
    return hashlib.sha256("\n".join(lines).encode()).digest()


async def post(
    conn: asyncpg.Connection,
    posting: Posting,
    *,
    request_id: str,
    invoice_id: str | None = None,
    payment_id: str | None = None,
) -> int | None:
    """Write a balanced transaction once per request id; returns its id, or None if it was already posted.

    A request id already posted with the same content (kind and entries, compared by the stored request hash) is
    a replay: nothing is written and None returned. Posted with other content, it is `AlreadyExists`
    (`REQUEST_ID_REUSED`): a caller bug or a key collision, never a silent no-op; the caller's transaction
    should roll back. The database re-checks the balance at commit and moves account balances by trigger.
    """
    check_balanced(posting)
    digest = _digest(posting)
    # Lock every account this posting moves, in code order, before the entries' trigger updates them: postings
    # touching the same accounts in different orders would otherwise deadlock against each other.
    refs = {account_code(e.account): e.account for e in posting.entries}
    ids = {code: await account_id(conn, ref) for code, ref in sorted(refs.items())}
    await conn.execute(
        "SELECT 1 FROM ledger.accounts WHERE id = ANY($1::bigint[]) ORDER BY code FOR UPDATE", list(ids.values())
    )
    tx = await conn.fetchval(
        "INSERT INTO ledger.journal_transactions (request_id, request_hash, kind, invoice_id, payment_id, memo) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) DO NOTHING RETURNING id",
        request_id,
        digest,
        posting.kind,
        invoice_id,
        payment_id,
        posting.memo,
    )
    if tx is None:
        # The conflicting row is committed (ON CONFLICT waited for it), so this statement's snapshot sees it.
        stored = await conn.fetchval(
            "SELECT request_hash FROM ledger.journal_transactions WHERE request_id = $1", request_id
        )
        if stored is None or bytes(stored) != digest:
            raise AlreadyExists(
                f"journal request id {request_id} was already posted with other content",
                reason="REQUEST_ID_REUSED",
                metadata={"requestId": request_id},
            )
        return None
    for entry in posting.entries:
        await conn.execute(
            "INSERT INTO ledger.journal_entries (transaction_id, account_id, asset, side, amount) "
            "VALUES ($1, $2, $3, $4, $5)",
            tx,
            ids[account_code(entry.account)],
            entry.account.asset,
            entry.side,
            entry.amount,
        )
    return int(tx)
