from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error import Error
from ...models.fee_estimate import FeeEstimate
from ...models.fee_operation import FeeOperation
from ...models.fee_service_estimate_fee_asset import FeeServiceEstimateFeeAsset
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    operation: FeeOperation | Unset = UNSET,
    amount: str | Unset = UNSET,
    asset: FeeServiceEstimateFeeAsset | Unset = UNSET,
    destination_address: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    json_operation: str | Unset = UNSET
    if not isinstance(operation, Unset):
        json_operation = operation.value

    params["operation"] = json_operation

    params["amount"] = amount

    json_asset: str | Unset = UNSET
    if not isinstance(asset, Unset):
        json_asset = asset.value

    params["asset"] = json_asset

    params["destination_address"] = destination_address


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/fees:estimate",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | FeeEstimate | None:
    if response.status_code == 200:
        response_200 = FeeEstimate.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | FeeEstimate]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    operation: FeeOperation | Unset = UNSET,
    amount: str | Unset = UNSET,
    asset: FeeServiceEstimateFeeAsset | Unset = UNSET,
    destination_address: str | Unset = UNSET,

) -> Response[Error | FeeEstimate]:
    """ Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans

     Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans.

    Args:
        operation (FeeOperation | Unset): Kind of operation a fee is estimated for.
            FEE_OPERATION_UNSPECIFIED: Not set; treated as PAYOUT.; FEE_OPERATION_PAYOUT: A payout to
            an external address.
        amount (str | Unset):
        asset (FeeServiceEstimateFeeAsset | Unset):
        destination_address (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | FeeEstimate]
     """


    kwargs = _get_kwargs(
        operation=operation,
amount=amount,
asset=asset,
destination_address=destination_address,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    operation: FeeOperation | Unset = UNSET,
    amount: str | Unset = UNSET,
    asset: FeeServiceEstimateFeeAsset | Unset = UNSET,
    destination_address: str | Unset = UNSET,

) -> Error | FeeEstimate | None:
    """ Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans

     Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans.

    Args:
        operation (FeeOperation | Unset): Kind of operation a fee is estimated for.
            FEE_OPERATION_UNSPECIFIED: Not set; treated as PAYOUT.; FEE_OPERATION_PAYOUT: A payout to
            an external address.
        amount (str | Unset):
        asset (FeeServiceEstimateFeeAsset | Unset):
        destination_address (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | FeeEstimate
     """


    return sync_detailed(
        client=client,
operation=operation,
amount=amount,
asset=asset,
destination_address=destination_address,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    operation: FeeOperation | Unset = UNSET,
    amount: str | Unset = UNSET,
    asset: FeeServiceEstimateFeeAsset | Unset = UNSET,
    destination_address: str | Unset = UNSET,

) -> Response[Error | FeeEstimate]:
    """ Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans

     Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans.

    Args:
        operation (FeeOperation | Unset): Kind of operation a fee is estimated for.
            FEE_OPERATION_UNSPECIFIED: Not set; treated as PAYOUT.; FEE_OPERATION_PAYOUT: A payout to
            an external address.
        amount (str | Unset):
        asset (FeeServiceEstimateFeeAsset | Unset):
        destination_address (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | FeeEstimate]
     """


    kwargs = _get_kwargs(
        operation=operation,
amount=amount,
asset=asset,
destination_address=destination_address,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    operation: FeeOperation | Unset = UNSET,
    amount: str | Unset = UNSET,
    asset: FeeServiceEstimateFeeAsset | Unset = UNSET,
    destination_address: str | Unset = UNSET,

) -> Error | FeeEstimate | None:
    """ Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans

     Estimates the fee of an operation at current network conditions: today the network (gas) cost of a
    one-line payout in BNB, which the platform pays; the merchant's own fee comes with payout plans.

    Args:
        operation (FeeOperation | Unset): Kind of operation a fee is estimated for.
            FEE_OPERATION_UNSPECIFIED: Not set; treated as PAYOUT.; FEE_OPERATION_PAYOUT: A payout to
            an external address.
        amount (str | Unset):
        asset (FeeServiceEstimateFeeAsset | Unset):
        destination_address (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | FeeEstimate
     """


    return (await asyncio_detailed(
        client=client,
operation=operation,
amount=amount,
asset=asset,
destination_address=destination_address,

    )).parsed
