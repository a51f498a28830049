""" Contains all the data models used in inputs/outputs """

from .asset_balance import AssetBalance
from .balance import Balance
from .balance_service_get_balance_asset import BalanceServiceGetBalanceAsset
from .create_invoice_request import CreateInvoiceRequest
from .create_invoice_request_asset_type_1 import CreateInvoiceRequestAssetType1
from .create_invoice_request_asset_type_2_type_1 import CreateInvoiceRequestAssetType2Type1
from .create_invoice_request_asset_type_3_type_1 import CreateInvoiceRequestAssetType3Type1
from .create_invoice_request_metadata_type_0 import CreateInvoiceRequestMetadataType0
from .create_payout_request import CreatePayoutRequest
from .create_payout_request_asset_type_1 import CreatePayoutRequestAssetType1
from .create_payout_request_asset_type_2_type_1 import CreatePayoutRequestAssetType2Type1
from .create_payout_request_asset_type_3_type_1 import CreatePayoutRequestAssetType3Type1
from .create_payout_request_metadata_type_0 import CreatePayoutRequestMetadataType0
from .create_refund_request import CreateRefundRequest
from .create_settlement_address_request import CreateSettlementAddressRequest
from .create_webhook_endpoint_request import CreateWebhookEndpointRequest
from .create_webhook_endpoint_request_api_version_type_1 import CreateWebhookEndpointRequestApiVersionType1
from .create_webhook_endpoint_request_api_version_type_2_type_1 import CreateWebhookEndpointRequestApiVersionType2Type1
from .create_webhook_endpoint_request_api_version_type_3_type_1 import CreateWebhookEndpointRequestApiVersionType3Type1
from .create_webhook_endpoint_request_enabled_events_type_0_item import CreateWebhookEndpointRequestEnabledEventsType0Item
from .create_webhook_endpoint_request_signing_algorithms_type_0_item import CreateWebhookEndpointRequestSigningAlgorithmsType0Item
from .delete_webhook_endpoint_response import DeleteWebhookEndpointResponse
from .error import Error
from .error_details_item import ErrorDetailsItem
from .fee_estimate import FeeEstimate
from .fee_operation import FeeOperation
from .fee_service_estimate_fee_asset import FeeServiceEstimateFeeAsset
from .invoice import Invoice
from .invoice_exception import InvoiceException
from .invoice_metadata_type_0 import InvoiceMetadataType0
from .invoice_service_cancel_invoice_body import InvoiceServiceCancelInvoiceBody
from .invoice_status import InvoiceStatus
from .list_invoices_response import ListInvoicesResponse
from .list_payouts_response import ListPayoutsResponse
from .list_refunds_response import ListRefundsResponse
from .list_settlement_addresses_response import ListSettlementAddressesResponse
from .list_webhook_deliveries_response import ListWebhookDeliveriesResponse
from .list_webhook_endpoints_response import ListWebhookEndpointsResponse
from .payment import Payment
from .payment_status import PaymentStatus
from .payout import Payout
from .payout_frequency import PayoutFrequency
from .payout_metadata_type_0 import PayoutMetadataType0
from .payout_quote import PayoutQuote
from .payout_schedule import PayoutSchedule
from .payout_service_cancel_payout_body import PayoutServiceCancelPayoutBody
from .payout_service_get_payout_quote_asset import PayoutServiceGetPayoutQuoteAsset
from .payout_status import PayoutStatus
from .payout_trigger import PayoutTrigger
from .refund import Refund
from .refund_service_cancel_refund_body import RefundServiceCancelRefundBody
from .refund_status import RefundStatus
from .replay_failed_webhooks_response import ReplayFailedWebhooksResponse
from .settlement_address import SettlementAddress
from .settlement_address_confirmation import SettlementAddressConfirmation
from .settlement_address_service_confirm_settlement_address_body import SettlementAddressServiceConfirmSettlementAddressBody
from .settlement_address_service_revoke_settlement_address_body import SettlementAddressServiceRevokeSettlementAddressBody
from .settlement_address_status import SettlementAddressStatus
from .statement import Statement
from .statement_line import StatementLine
from .update_payout_schedule_request import UpdatePayoutScheduleRequest
from .webhook_delivery import WebhookDelivery
from .webhook_delivery_attempt import WebhookDeliveryAttempt
from .webhook_delivery_status import WebhookDeliveryStatus
from .webhook_endpoint import WebhookEndpoint
from .webhook_endpoint_api_version_type_1 import WebhookEndpointApiVersionType1
from .webhook_endpoint_api_version_type_2_type_1 import WebhookEndpointApiVersionType2Type1
from .webhook_endpoint_api_version_type_3_type_1 import WebhookEndpointApiVersionType3Type1
from .webhook_endpoint_enabled_events_type_0_item import WebhookEndpointEnabledEventsType0Item
from .webhook_endpoint_service_redeliver_webhook_body import WebhookEndpointServiceRedeliverWebhookBody
from .webhook_endpoint_service_replay_failed_webhooks_body import WebhookEndpointServiceReplayFailedWebhooksBody
from .webhook_endpoint_service_rotate_webhook_secret_body import WebhookEndpointServiceRotateWebhookSecretBody
from .webhook_endpoint_service_send_test_webhook_body import WebhookEndpointServiceSendTestWebhookBody
from .webhook_endpoint_service_send_test_webhook_body_event_type_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType1
from .webhook_endpoint_service_send_test_webhook_body_event_type_type_2_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1
from .webhook_endpoint_service_send_test_webhook_body_event_type_type_3_type_1 import WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1
from .webhook_endpoint_signing_algorithms_type_0_item import WebhookEndpointSigningAlgorithmsType0Item
from .webhook_signing_algorithm import WebhookSigningAlgorithm

__all__ = (
    "AssetBalance",
    "Balance",
    "BalanceServiceGetBalanceAsset",
    "CreateInvoiceRequest",
    "CreateInvoiceRequestAssetType1",
    "CreateInvoiceRequestAssetType2Type1",
    "CreateInvoiceRequestAssetType3Type1",
    "CreateInvoiceRequestMetadataType0",
    "CreatePayoutRequest",
    "CreatePayoutRequestAssetType1",
    "CreatePayoutRequestAssetType2Type1",
    "CreatePayoutRequestAssetType3Type1",
    "CreatePayoutRequestMetadataType0",
    "CreateRefundRequest",
    "CreateSettlementAddressRequest",
    "CreateWebhookEndpointRequest",
    "CreateWebhookEndpointRequestApiVersionType1",
    "CreateWebhookEndpointRequestApiVersionType2Type1",
    "CreateWebhookEndpointRequestApiVersionType3Type1",
    "CreateWebhookEndpointRequestEnabledEventsType0Item",
    "CreateWebhookEndpointRequestSigningAlgorithmsType0Item",
    "DeleteWebhookEndpointResponse",
    "Error",
    "ErrorDetailsItem",
    "FeeEstimate",
    "FeeOperation",
    "FeeServiceEstimateFeeAsset",
    "Invoice",
    "InvoiceException",
    "InvoiceMetadataType0",
    "InvoiceServiceCancelInvoiceBody",
    "InvoiceStatus",
    "ListInvoicesResponse",
    "ListPayoutsResponse",
    "ListRefundsResponse",
    "ListSettlementAddressesResponse",
    "ListWebhookDeliveriesResponse",
    "ListWebhookEndpointsResponse",
    "Payment",
    "PaymentStatus",
    "Payout",
    "PayoutFrequency",
    "PayoutMetadataType0",
    "PayoutQuote",
    "PayoutSchedule",
    "PayoutServiceCancelPayoutBody",
    "PayoutServiceGetPayoutQuoteAsset",
    "PayoutStatus",
    "PayoutTrigger",
    "Refund",
    "RefundServiceCancelRefundBody",
    "RefundStatus",
    "ReplayFailedWebhooksResponse",
    "SettlementAddress",
    "SettlementAddressConfirmation",
    "SettlementAddressServiceConfirmSettlementAddressBody",
    "SettlementAddressServiceRevokeSettlementAddressBody",
    "SettlementAddressStatus",
    "Statement",
    "StatementLine",
    "UpdatePayoutScheduleRequest",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEndpointApiVersionType1",
    "WebhookEndpointApiVersionType2Type1",
    "WebhookEndpointApiVersionType3Type1",
    "WebhookEndpointEnabledEventsType0Item",
    "WebhookEndpointServiceRedeliverWebhookBody",
    "WebhookEndpointServiceReplayFailedWebhooksBody",
    "WebhookEndpointServiceRotateWebhookSecretBody",
    "WebhookEndpointServiceSendTestWebhookBody",
    "WebhookEndpointServiceSendTestWebhookBodyEventTypeType1",
    "WebhookEndpointServiceSendTestWebhookBodyEventTypeType2Type1",
    "WebhookEndpointServiceSendTestWebhookBodyEventTypeType3Type1",
    "WebhookEndpointSigningAlgorithmsType0Item",
    "WebhookSigningAlgorithm",
)
