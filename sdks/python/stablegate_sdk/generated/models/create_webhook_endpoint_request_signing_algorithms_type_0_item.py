from enum import StrEnum

class CreateWebhookEndpointRequestSigningAlgorithmsType0Item(StrEnum):
    WEBHOOK_SIGNING_ALGORITHM_ED25519 = "WEBHOOK_SIGNING_ALGORITHM_ED25519"
    WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256 = "WEBHOOK_SIGNING_ALGORITHM_HMAC_SHA256"

    def __str__(self) -> str:
        return str(self.value)
