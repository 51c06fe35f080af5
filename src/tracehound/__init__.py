"""tracehound: hunt attackers who hide in the noise of ordinary logs."""

from .errors import (ConfigError, InputFormatError, MissingExtraError, NotFittedError,
                     TracehoundError)

__version__ = "0.1.0"

#: Imported on first use, so ``tracehound --help`` does not pay for Ibis, pandas and DuckDB.
_LAZY = {"Engine": "engine", "connect": "engine", "Finding": "findings", "hunt": None}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'tracehound' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    return module if _LAZY[name] is None else getattr(module, name)

__all__ = ["Engine", "connect", "Finding", "TracehoundError", "InputFormatError",
           "MissingExtraError", "NotFittedError", "ConfigError", "__version__"]
