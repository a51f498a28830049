"""Internal CredentialService: the edge's ext_authz asks the ledger who a key belongs to."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
from stablegate.ledger.v1 import credential_service_pb2 as pb
from stablegate.ledger.v1 import credential_service_pb2_grpc as pb_grpc

from ledger.api.convert import timestamp
from ledger.core import LedgerCore
from ledger.domain.credentials import bearer_token

Context = grpc.aio.ServicerContext[Any, Any]


class Credentials(pb_grpc.CredentialServiceServicer):
    """Verify a presented key with the same function the ledger's own interceptor uses."""

    def __init__(self, core: LedgerCore) -> None:
        self.core = core

    async def VerifyCredential(
        self, request: pb.VerifyCredentialRequest, context: Context
    ) -> pb.VerifyCredentialResponse:
        """Who the key belongs to and until when the answer may be cached; UNAUTHENTICATED if invalid."""
        credential = request.credential
        if " " in credential:
            credential = bearer_token(credential)
        who = await self.core.verifier.verify(credential, request.client_address or None)
        until = self.core.now() + dt.timedelta(seconds=self.core.settings.credential_cache_seconds)
        return pb.VerifyCredentialResponse(
            kind=pb.CredentialKind.Value(
                "CREDENTIAL_KIND_MERCHANT_KEY" if who.kind == "merchant" else "CREDENTIAL_KIND_ADMIN_KEY"
            ),
            key_id=who.key_id,
            merchant_id=who.merchant_id or "",
            scopes=sorted(who.scopes),
            roles=sorted(who.roles),
            admin_identity=who.name if who.kind == "admin" else "",
            cache_until_time=timestamp(until),
        )
