from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.balance import Balance
from ...models.balance_service_get_balance_asset import BalanceServiceGetBalanceAsset
from ...models.error import Error
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    asset: BalanceServiceGetBalanceAsset | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    json_asset: str | Unset = UNSET
    if not isinstance(asset, Unset):
        json_asset = asset.value

    params["asset"] = json_asset


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/balance",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Balance | Error | None:
    if response.status_code == 200:
        response_200 = Balance.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Balance | Error]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    asset: BalanceServiceGetBalanceAsset | Unset = UNSET,

) -> Response[Balance | Error]:
    """ Gets the caller's balance, per asset

     Gets the caller's balance, per asset.

    Args:
        asset (BalanceServiceGetBalanceAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Balance | Error]
     """


    kwargs = _get_kwargs(
        asset=asset,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    asset: BalanceServiceGetBalanceAsset | Unset = UNSET,

) -> Balance | Error | None:
    """ Gets the caller's balance, per asset

     Gets the caller's balance, per asset.

    Args:
        asset (BalanceServiceGetBalanceAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Balance | Error
     """


    return sync_detailed(
        client=client,
asset=asset,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    asset: BalanceServiceGetBalanceAsset | Unset = UNSET,

) -> Response[Balance | Error]:
    """ Gets the caller's balance, per asset

     Gets the caller's balance, per asset.

    Args:
        asset (BalanceServiceGetBalanceAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Balance | Error]
     """


    kwargs = _get_kwargs(
        asset=asset,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    asset: BalanceServiceGetBalanceAsset | Unset = UNSET,

) -> Balance | Error | None:
    """ Gets the caller's balance, per asset

     Gets the caller's balance, per asset.

    Args:
        asset (BalanceServiceGetBalanceAsset | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Balance | Error
     """


    return (await asyncio_detailed(
        client=client,
asset=asset,

    )).parsed
