"""tracehound: hunt attackers who hide in the noise of ordinary logs."""

from .engine import Engine, connect
from .errors import (ConfigError, InputFormatError, MissingExtraError, NotFittedError,
                     TracehoundError)
from .findings import Finding

__version__ = "0.1.0"

__all__ = ["Engine", "connect", "Finding", "TracehoundError", "InputFormatError",
           "MissingExtraError", "NotFittedError", "ConfigError", "__version__"]
