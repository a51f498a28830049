"""Every model of the API, generated from the OpenAPI document (`stablegate_sdk.generated.models`)."""

from .generated.models import *  # noqa: F403
from .generated.models import __all__ as __all__  # noqa: PLC0414 - re-exported
from .generated.types import UNSET as UNSET  # noqa: PLC0414 - re-exported
from .generated.types import Unset as Unset  # noqa: PLC0414 - re-exported
