from enum import StrEnum

class WebhookEndpointApiVersionType1(StrEnum):
    VALUE_0 = ""
    VALUE_1 = "2026-11-25"

    def __str__(self) -> str:
        return str(self.value)
