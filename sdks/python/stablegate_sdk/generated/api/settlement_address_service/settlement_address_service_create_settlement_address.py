from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.create_settlement_address_request import CreateSettlementAddressRequest
from ...models.error import Error
from ...models.settlement_address import SettlementAddress
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    body: CreateSettlementAddressRequest | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key



    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/settlement_addresses",
    }

    
    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | SettlementAddress | None:
    if response.status_code == 200:
        response_200 = SettlementAddress.from_dict(response.json())



        return response_200

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())



        return response_400

    if response.status_code == 401:
        response_401 = Error.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = Error.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = Error.from_dict(response.json())



        return response_404

    if response.status_code == 408:
        response_408 = Error.from_dict(response.json())



        return response_408

    if response.status_code == 409:
        response_409 = Error.from_dict(response.json())



        return response_409

    if response.status_code == 413:
        response_413 = Error.from_dict(response.json())



        return response_413

    if response.status_code == 429:
        response_429 = Error.from_dict(response.json())



        return response_429

    if response.status_code == 503:
        response_503 = Error.from_dict(response.json())



        return response_503

    if response.status_code == 504:
        response_504 = Error.from_dict(response.json())



        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | SettlementAddress]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementAddressRequest | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,

) -> Response[Error | SettlementAddress]:
    """ Registers an address; a confirmation code is emailed to the merchant

     Registers an address; a confirmation code is emailed to the merchant. Idempotent by request_id (or
    the Idempotency-Key header).

    Args:
        idempotency_key (str | Unset):
        body (CreateSettlementAddressRequest | Unset): Request to register a settlement address.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | SettlementAddress]
     """


    kwargs = _get_kwargs(
        body=body,
idempotency_key=idempotency_key,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementAddressRequest | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,

) -> Error | SettlementAddress | None:
    """ Registers an address; a confirmation code is emailed to the merchant

     Registers an address; a confirmation code is emailed to the merchant. Idempotent by request_id (or
    the Idempotency-Key header).

    Args:
        idempotency_key (str | Unset):
        body (CreateSettlementAddressRequest | Unset): Request to register a settlement address.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | SettlementAddress
     """


    return sync_detailed(
        client=client,
body=body,
idempotency_key=idempotency_key,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementAddressRequest | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,

) -> Response[Error | SettlementAddress]:
    """ Registers an address; a confirmation code is emailed to the merchant

     Registers an address; a confirmation code is emailed to the merchant. Idempotent by request_id (or
    the Idempotency-Key header).

    Args:
        idempotency_key (str | Unset):
        body (CreateSettlementAddressRequest | Unset): Request to register a settlement address.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | SettlementAddress]
     """


    kwargs = _get_kwargs(
        body=body,
idempotency_key=idempotency_key,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateSettlementAddressRequest | Unset = UNSET,
    idempotency_key: str | Unset = UNSET,

) -> Error | SettlementAddress | None:
    """ Registers an address; a confirmation code is emailed to the merchant

     Registers an address; a confirmation code is emailed to the merchant. Idempotent by request_id (or
    the Idempotency-Key header).

    Args:
        idempotency_key (str | Unset):
        body (CreateSettlementAddressRequest | Unset): Request to register a settlement address.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | SettlementAddress
     """


    return (await asyncio_detailed(
        client=client,
body=body,
idempotency_key=idempotency_key,

    )).parsed
