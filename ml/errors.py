"""One exception hierarchy; every message names the field, the value and the rule."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BVPError",
    "ConfigError",
    "DataValidationError",
    "InsufficientHistoryError",
    "ModelNotFoundError",
    "PromotionError",
]


class BVPError(Exception):
    """Base class of every error the product raises on purpose.

    Attributes:
        status_code: HTTP status a serving edge maps this error to.
    """

    status_code = 400


class DataValidationError(BVPError):
    """Input data broke a contract.

    Args:
        column: The offending column (or field).
        value: The offending value.
        rule: What was expected, as a sentence fragment ("expected > 0").
        at: Row timestamp or index where the first violation occurs.
        count: How many rows break the same rule.
    """

    status_code = 422

    def __init__(
        self,
        column: str,
        value: Any,
        rule: str,
        at: Any = None,
        count: int = 1,
    ) -> None:
        self.column = column
        self.value = value
        self.rule = rule
        self.at = at
        self.count = count
        where = f"{column} at {at}" if at is not None else column
        more = f" ({count} rows break this rule)" if count > 1 else ""
        super().__init__(f"{where}: got {value!r}, {rule}{more}")


class InsufficientHistoryError(DataValidationError):
    """Not enough rows to compute features."""

    def __init__(self, column: str, needed: int, got: int, at: Any = None) -> None:
        super().__init__(
            column, got, f"expected at least {needed} rows of history", at=at
        )
        self.needed = needed
        self.got = got


class ConfigError(BVPError):
    """A setting has a value outside its allowed set."""

    def __init__(self, field: str, value: Any, allowed: str, hint: str = "") -> None:
        self.field = field
        self.value = value
        extra = f" {hint}" if hint else ""
        super().__init__(
            f"{field}: got {value!r} ({type(value).__name__}), expected {allowed}."
            f"{extra}"
        )


class ModelNotFoundError(BVPError):
    """A registry lookup found nothing."""

    status_code = 404

    def __init__(self, name: str, ref: str, hint: str = "") -> None:
        self.name = name
        self.ref = ref
        extra = f" {hint}" if hint else ""
        super().__init__(f"model {name!r}: no version for {ref!r}.{extra}")


class PromotionError(BVPError):
    """A deployment or alias move was refused or failed."""

    status_code = 409
