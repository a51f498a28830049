from enum import StrEnum

class FeeServiceEstimateFeeAsset(StrEnum):
    USDT = "USDT"
    VALUE_0 = ""

    def __str__(self) -> str:
        return str(self.value)
