"""One exception hierarchy; every message names the field, the value and the rule."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BVPError",
    "CandleConflictError",
    "CandleFileError",
    "ConfigError",
    "DataValidationError",
    "InsufficientHistoryError",
    "ModelNotFoundError",
    "PromotionError",
    "SourceBlockedError",
    "SourceError",
    "SourcePayloadError",
    "SourceUnavailableError",
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
        row: 0-based position of that row in the frame, when it is a frame row (an
            HTTP caller's candles are named by position: ``candles[20].Close``).
    """

    status_code = 422

    def __init__(
        self,
        column: str,
        value: Any,
        rule: str,
        at: Any = None,
        count: int = 1,
        row: int | None = None,
    ) -> None:
        self.column = column
        self.value = value
        self.rule = rule
        self.at = at
        self.count = count
        self.row = row
        where = f"{column} at {at}" if at is not None else column
        more = f" ({count} rows break this rule)" if count > 1 else ""
        super().__init__(f"{where}: got {value!r}, {rule}{more}")


class CandleFileError(DataValidationError):
    """A candle file is unreadable, or its content broke a contract; names the file.

    Args:
        path: The file.
        problem: What is wrong, as a sentence fragment ("empty file").
        cause: The content error, when the file parsed but a column or value did not
            (its column, value, row and count are kept).
    """

    def __init__(
        self, path: Any, problem: str, cause: DataValidationError | None = None
    ) -> None:
        if cause is None:
            super().__init__("file", str(path), problem)
        else:
            super().__init__(
                cause.column,
                cause.value,
                cause.rule,
                at=cause.at,
                count=cause.count,
                row=cause.row,
            )
        self.path = str(path)
        self.problem = problem
        self.args = (f"{path}: {problem}",)


class InsufficientHistoryError(DataValidationError):
    """Not enough rows to compute features."""

    def __init__(
        self, column: str, needed: int, got: int, at: Any = None, earliest: Any = None
    ) -> None:
        hint = (
            f"; the earliest as-of day with enough is {earliest}"
            if earliest is not None
            else ""
        )
        super().__init__(
            column, got, f"expected at least {needed} rows of history{hint}", at=at
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


class CandleConflictError(DataValidationError):
    """Incoming candles disagree with candles already in the store.

    Closed candles never change at the source, so a disagreement means a different
    symbol, a different source layout or a damaged store: nothing is written.
    """

    def __init__(
        self, column: str, at: str, stored: float, incoming: float, count: int = 1
    ) -> None:
        super().__init__(
            column,
            incoming,
            f"expected the stored value {stored!r} for an already stored candle "
            "(the store is left unchanged; check the symbol and source, or delete the "
            "store file to rebuild it)",
            at=at,
            count=count,
        )
        self.stored = stored
        self.incoming = incoming


class SourceError(BVPError):
    """A data source (Binance, Kaggle) failed or answered something unusable.

    Args:
        source: Source name, e.g. ``binance``.
        url: The URL (or dataset) that was asked.
        problem: What went wrong, as a sentence fragment.
        hint: What to do about it.
    """

    status_code = 502

    def __init__(self, source: str, url: str, problem: str, hint: str = "") -> None:
        self.source = source
        self.url = url
        self.problem = problem
        self.hint = hint
        extra = f" {hint}" if hint else ""
        super().__init__(f"{source} {url}: {problem}.{extra}")


class SourceBlockedError(SourceError):
    """The source refuses this region (HTTP 451 Unavailable For Legal Reasons).

    Args:
        source: Source name.
        url: The URL that answered 451.
        setting: Environment variable that selects another host.
        alternative: A host known to serve the same data.
    """

    def __init__(self, source: str, url: str, setting: str, alternative: str) -> None:
        super().__init__(
            source,
            url,
            "got HTTP 451 (unavailable for legal reasons: this host refuses requests "
            "from this region)",
            f"Set {setting}={alternative} (public market-data host) and retry.",
        )
        self.setting = setting
        self.alternative = alternative


class SourcePayloadError(SourceError):
    """The source answered 2xx with a body that is not the expected format.

    Args:
        source: Source name.
        url: The URL asked.
        expected: What the body should have been.
        got: Short excerpt or description of what came back.
    """

    def __init__(self, source: str, url: str, expected: str, got: str) -> None:
        super().__init__(source, url, f"got {got!r}, expected {expected}")
        self.expected = expected
        self.got = got


class SourceUnavailableError(SourceError):
    """Retries ran out (or the source asked to wait longer than allowed).

    Args:
        source: Source name.
        url: The URL asked.
        attempts: Requests made.
        last: The last failure (status or exception), as text.
        hint: What to do about it.
    """

    status_code = 503

    def __init__(
        self, source: str, url: str, attempts: int, last: str, hint: str = ""
    ) -> None:
        super().__init__(
            source, url, f"gave up after {attempts} attempt(s); last: {last}", hint
        )
        self.attempts = attempts
        self.last = last
