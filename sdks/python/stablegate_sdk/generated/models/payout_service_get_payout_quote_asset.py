from enum import StrEnum

class PayoutServiceGetPayoutQuoteAsset(StrEnum):
    USDT = "USDT"
    VALUE_0 = ""

    def __str__(self) -> str:
        return str(self.value)
