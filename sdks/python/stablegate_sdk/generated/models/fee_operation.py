from enum import StrEnum

class FeeOperation(StrEnum):
    FEE_OPERATION_PAYOUT = "FEE_OPERATION_PAYOUT"
    FEE_OPERATION_UNSPECIFIED = "FEE_OPERATION_UNSPECIFIED"

    def __str__(self) -> str:
        return str(self.value)
