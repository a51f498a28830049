from enum import StrEnum

class PayoutTrigger(StrEnum):
    PAYOUT_TRIGGER_MANUAL = "PAYOUT_TRIGGER_MANUAL"
    PAYOUT_TRIGGER_SCHEDULED = "PAYOUT_TRIGGER_SCHEDULED"
    PAYOUT_TRIGGER_UNSPECIFIED = "PAYOUT_TRIGGER_UNSPECIFIED"

    def __str__(self) -> str:
        return str(self.value)
