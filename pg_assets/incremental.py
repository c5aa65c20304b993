"""Incremental cursors: which items a resource has already loaded.

An `Incremental` is handed to a resource (and, by the YAML sources, to the function
or API call that produces the data) before the data is read. The pipeline binds it
to the state stored in the destination, so `start_value` is the cursor where the
last committed load stopped: a source can ask its API only for newer items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

LastValueFunc = Literal["max", "min"]


@dataclass
class Incremental:
    """A cursor over one field of the raw items.

    Args:
        cursor_path: dotted path into the raw item (`updated_at`, `meta.updated_at`).
        initial_value: where the first run starts.
        end_value: optional upper bound (exclusive) of the window.
        last_value_func: `max` for growing cursors, `min` for shrinking ones.
        primary_key: columns that identify an item at the boundary; defaults to the
            resource's primary key, else the whole item.

    Examples:
        >>> inc = Incremental("updated_at", initial_value="2024-01-01")
        >>> inc.start_value
        '2024-01-01'
    """

    cursor_path: str
    initial_value: Any = None
    end_value: Any = None
    last_value_func: LastValueFunc = "max"
    primary_key: str | Sequence[str] | None = None
    # bound by the pipeline from the destination's state before data is read
    stored: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def coerce(cls, value: "Incremental | Mapping[str, Any] | None") -> "Incremental | None":
        """Accept an `Incremental`, a mapping of its arguments, or None."""
        if value is None or isinstance(value, Incremental):
            return value
        return cls(**dict(value))

    @property
    def last_value(self) -> Any:
        """The cursor stored by the last committed load (None before the first)."""
        return self.stored.get("last_value")

    @property
    def start_value(self) -> Any:
        """Where this run starts: the stored cursor, else `initial_value`."""
        last = self.last_value
        return self.initial_value if last is None else last
