from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error import Error
from ...models.statement import Statement
from typing import cast



def _get_kwargs(
    month: str,

) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/statements/{month}".format(month=quote(str(month), safe=""),),
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | Statement | None:
    if response.status_code == 200:
        response_200 = Statement.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | Statement]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    month: str,
    *,
    client: AuthenticatedClient,

) -> Response[Error | Statement]:
    """ Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line

     Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line. The current month's statement runs to now.

    Args:
        month (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | Statement]
     """


    kwargs = _get_kwargs(
        month=month,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    month: str,
    *,
    client: AuthenticatedClient,

) -> Error | Statement | None:
    """ Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line

     Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line. The current month's statement runs to now.

    Args:
        month (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | Statement
     """


    return sync_detailed(
        month=month,
client=client,

    ).parsed

async def asyncio_detailed(
    month: str,
    *,
    client: AuthenticatedClient,

) -> Response[Error | Statement]:
    """ Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line

     Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line. The current month's statement runs to now.

    Args:
        month (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | Statement]
     """


    kwargs = _get_kwargs(
        month=month,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    month: str,
    *,
    client: AuthenticatedClient,

) -> Error | Statement | None:
    """ Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line

     Gets the caller's statement for one month (UTC): opening balance, the movements by kind, closing
    balance and every line. The current month's statement runs to now.

    Args:
        month (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | Statement
     """


    return (await asyncio_detailed(
        month=month,
client=client,

    )).parsed
