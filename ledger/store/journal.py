"""Posting balanced transactions to the journal (accounts are created on first use)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

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


async def _lock(conn: asyncpg.Connection, refs: Iterable[AccountRef]) -> dict[str, tuple[int, int]]:
    """Create (if need be) and lock the accounts in code order; each code's (account id, balance)."""
    # One order everywhere (account code): transactions locking overlapping accounts never deadlock each other.
    # Found and locked in one round trip; only an account not made yet costs more (once per account).
    by_code = {account_code(ref): ref for ref in refs}
    codes = sorted(by_code)
    query = "SELECT id, code, balance FROM ledger.accounts WHERE code = ANY($1::text[]) ORDER BY code FOR UPDATE"
    rows = await conn.fetch(query, codes)
    if len(rows) < len(codes):
        found = {r["code"] for r in rows}
        for code in codes:
            if code not in found:
                await account_id(conn, by_code[code])
        rows = await conn.fetch(query, codes)
    return {r["code"]: (int(r["id"]), int(r["balance"])) for r in rows}


async def lock_balances(conn: asyncpg.Connection, refs: Iterable[AccountRef]) -> dict[AccountRef, int]:
    """Lock the accounts (created if need be) until the transaction ends, in code order; returns their balances.

    Lock every account a posting will move *before* reading a balance that decides the posting's amounts (a
    reversal's split between available and receivable): another transaction cannot move it in between, and
    `post` then finds the locks already held.
    """
    wanted = list(refs)
    locked = await _lock(conn, wanted)
    return {ref: locked[account_code(ref)][1] for ref in wanted}


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
    ids = {
        code: account for code, (account, _balance) in (await _lock(conn, [e.account for e in posting.entries])).items()
    }
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
    await conn.executemany(  # one round trip for all the entries
        "INSERT INTO ledger.journal_entries (transaction_id, account_id, asset, side, amount) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(tx, ids[account_code(e.account)], e.account.asset, e.side, e.amount) for e in posting.entries],
    )
    return int(tx)
