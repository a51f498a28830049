from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error import Error
from ...models.list_webhook_deliveries_response import ListWebhookDeliveriesResponse
from ...models.webhook_delivery_status import WebhookDeliveryStatus
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    id: str,
    *,
    page_size: int | Unset = UNSET,
    page_token: str | Unset = UNSET,
    status: WebhookDeliveryStatus | Unset = UNSET,
    event_type: str | Unset = UNSET,
    invoice_id: str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    params["page_size"] = page_size

    params["page_token"] = page_token

    json_status: str | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = status.value

    params["status"] = json_status

    params["event_type"] = event_type

    params["invoice_id"] = invoice_id


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/webhook_endpoints/{id}/deliveries".format(id=quote(str(id), safe=""),),
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Error | ListWebhookDeliveriesResponse | None:
    if response.status_code == 200:
        response_200 = ListWebhookDeliveriesResponse.from_dict(response.json())



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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Error | ListWebhookDeliveriesResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    page_size: int | Unset = UNSET,
    page_token: str | Unset = UNSET,
    status: WebhookDeliveryStatus | Unset = UNSET,
    event_type: str | Unset = UNSET,
    invoice_id: str | Unset = UNSET,

) -> Response[Error | ListWebhookDeliveriesResponse]:
    """ Lists deliveries to an endpoint, newest first

     Lists deliveries to an endpoint, newest first.

    Args:
        id (str):
        page_size (int | Unset):
        page_token (str | Unset):
        status (WebhookDeliveryStatus | Unset): Status of a webhook delivery.
            WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: Not set.; WEBHOOK_DELIVERY_STATUS_PENDING: Waiting
            for its first attempt.; WEBHOOK_DELIVERY_STATUS_RETRYING: An attempt failed; another is
            scheduled (backoff up to 72 h).; WEBHOOK_DELIVERY_STATUS_SUCCEEDED: The endpoint answered
            2xx.; WEBHOOK_DELIVERY_STATUS_FAILED: Given up: retries exhausted, 410 Gone, or the
            endpoint was disabled or deleted.
        event_type (str | Unset):
        invoice_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | ListWebhookDeliveriesResponse]
     """


    kwargs = _get_kwargs(
        id=id,
page_size=page_size,
page_token=page_token,
status=status,
event_type=event_type,
invoice_id=invoice_id,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    page_size: int | Unset = UNSET,
    page_token: str | Unset = UNSET,
    status: WebhookDeliveryStatus | Unset = UNSET,
    event_type: str | Unset = UNSET,
    invoice_id: str | Unset = UNSET,

) -> Error | ListWebhookDeliveriesResponse | None:
    """ Lists deliveries to an endpoint, newest first

     Lists deliveries to an endpoint, newest first.

    Args:
        id (str):
        page_size (int | Unset):
        page_token (str | Unset):
        status (WebhookDeliveryStatus | Unset): Status of a webhook delivery.
            WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: Not set.; WEBHOOK_DELIVERY_STATUS_PENDING: Waiting
            for its first attempt.; WEBHOOK_DELIVERY_STATUS_RETRYING: An attempt failed; another is
            scheduled (backoff up to 72 h).; WEBHOOK_DELIVERY_STATUS_SUCCEEDED: The endpoint answered
            2xx.; WEBHOOK_DELIVERY_STATUS_FAILED: Given up: retries exhausted, 410 Gone, or the
            endpoint was disabled or deleted.
        event_type (str | Unset):
        invoice_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | ListWebhookDeliveriesResponse
     """


    return sync_detailed(
        id=id,
client=client,
page_size=page_size,
page_token=page_token,
status=status,
event_type=event_type,
invoice_id=invoice_id,

    ).parsed

async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    page_size: int | Unset = UNSET,
    page_token: str | Unset = UNSET,
    status: WebhookDeliveryStatus | Unset = UNSET,
    event_type: str | Unset = UNSET,
    invoice_id: str | Unset = UNSET,

) -> Response[Error | ListWebhookDeliveriesResponse]:
    """ Lists deliveries to an endpoint, newest first

     Lists deliveries to an endpoint, newest first.

    Args:
        id (str):
        page_size (int | Unset):
        page_token (str | Unset):
        status (WebhookDeliveryStatus | Unset): Status of a webhook delivery.
            WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: Not set.; WEBHOOK_DELIVERY_STATUS_PENDING: Waiting
            for its first attempt.; WEBHOOK_DELIVERY_STATUS_RETRYING: An attempt failed; another is
            scheduled (backoff up to 72 h).; WEBHOOK_DELIVERY_STATUS_SUCCEEDED: The endpoint answered
            2xx.; WEBHOOK_DELIVERY_STATUS_FAILED: Given up: retries exhausted, 410 Gone, or the
            endpoint was disabled or deleted.
        event_type (str | Unset):
        invoice_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | ListWebhookDeliveriesResponse]
     """


    kwargs = _get_kwargs(
        id=id,
page_size=page_size,
page_token=page_token,
status=status,
event_type=event_type,
invoice_id=invoice_id,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    page_size: int | Unset = UNSET,
    page_token: str | Unset = UNSET,
    status: WebhookDeliveryStatus | Unset = UNSET,
    event_type: str | Unset = UNSET,
    invoice_id: str | Unset = UNSET,

) -> Error | ListWebhookDeliveriesResponse | None:
    """ Lists deliveries to an endpoint, newest first

     Lists deliveries to an endpoint, newest first.

    Args:
        id (str):
        page_size (int | Unset):
        page_token (str | Unset):
        status (WebhookDeliveryStatus | Unset): Status of a webhook delivery.
            WEBHOOK_DELIVERY_STATUS_UNSPECIFIED: Not set.; WEBHOOK_DELIVERY_STATUS_PENDING: Waiting
            for its first attempt.; WEBHOOK_DELIVERY_STATUS_RETRYING: An attempt failed; another is
            scheduled (backoff up to 72 h).; WEBHOOK_DELIVERY_STATUS_SUCCEEDED: The endpoint answered
            2xx.; WEBHOOK_DELIVERY_STATUS_FAILED: Given up: retries exhausted, 410 Gone, or the
            endpoint was disabled or deleted.
        event_type (str | Unset):
        invoice_id (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | ListWebhookDeliveriesResponse
     """


    return (await asyncio_detailed(
        id=id,
client=client,
page_size=page_size,
page_token=page_token,
status=status,
event_type=event_type,
invoice_id=invoice_id,

    )).parsed
