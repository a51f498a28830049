from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error import Error
from ...models.payout_quote import PayoutQuote
from ...models.payout_service_get_payout_quote_asset import PayoutServiceGetPayoutQuoteAsset
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    amount: str | Unset = UNSET,
    asset: PayoutServiceGetPayoutQuoteAsset | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["amount"] = amount

    json_asset: str | Unset = UNSET
    if not isinstance(asset, Unset):
        json_asset = asset.value

    params["asset"] = json_asset


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/payouts:quote",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | PayoutQuote | None:
    if response.status_code == 200:
        response_200 = PayoutQuote.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | PayoutQuote]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    amount: str | Unset = UNSET,
    asset: PayoutServiceGetPayoutQuoteAsset | Unset = UNSET,

) -> Response[Error | PayoutQuote]:
    """ Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it

     Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it. Changes
    nothing.

    Args:
        amount (str | Unset):
        asset (PayoutServiceGetPayoutQuoteAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | PayoutQuote]
     """


    kwargs = _get_kwargs(
        amount=amount,
asset=asset,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    amount: str | Unset = UNSET,
    asset: PayoutServiceGetPayoutQuoteAsset | Unset = UNSET,

) -> Error | PayoutQuote | None:
    """ Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it

     Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it. Changes
    nothing.

    Args:
        amount (str | Unset):
        asset (PayoutServiceGetPayoutQuoteAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | PayoutQuote
     """


    return sync_detailed(
        client=client,
amount=amount,
asset=asset,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    amount: str | Unset = UNSET,
    asset: PayoutServiceGetPayoutQuoteAsset | Unset = UNSET,

) -> Response[Error | PayoutQuote]:
    """ Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it

     Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it. Changes
    nothing.

    Args:
        amount (str | Unset):
        asset (PayoutServiceGetPayoutQuoteAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | PayoutQuote]
     """


    kwargs = _get_kwargs(
        amount=amount,
asset=asset,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    amount: str | Unset = UNSET,
    asset: PayoutServiceGetPayoutQuoteAsset | Unset = UNSET,

) -> Error | PayoutQuote | None:
    """ Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it

     Quotes a payout: its fee, what it takes from the balance, and whether the balance covers it. Changes
    nothing.

    Args:
        amount (str | Unset):
        asset (PayoutServiceGetPayoutQuoteAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | PayoutQuote
     """


    return (await asyncio_detailed(
        client=client,
amount=amount,
asset=asset,

    )).parsed
