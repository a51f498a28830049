from enum import StrEnum

class CreateInvoiceRequestAssetType3Type1(StrEnum):
    USDT = "USDT"
    VALUE_0 = ""

    def __str__(self) -> str:
        return str(self.value)
