"""Rows that arrive already in Postgres' COPY text format, for the Postgres-to-Postgres fast path.

A source that reads from Postgres can hand the engine the server's own `COPY (SELECT ...)
TO STDOUT` output instead of Python values: nothing is decoded or encoded on the way,
the bytes go from one server's COPY out to the other's COPY in. The source's SELECT
lists the data columns, then `_dlt_load_id` and `_dlt_id`, so every row still carries
the system columns of any other path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class CopyRows:
    """One resource's rows as COPY text.

    Attributes:
        columns: the destination names of the data columns, in the order the lines hold them;
            `_dlt_load_id` and `_dlt_id` follow them on every line.
        chunks: given the load id, yields COPY text in whole lines, each chunk about
            `batch_bytes` long.
        sequenced: each line ends with the merge sequence (after `_dlt_id`), so merge rows
            keep their order: a change stream's last change of a key wins.
    """

    columns: tuple[str, ...]
    chunks: Callable[[str, int], Iterator[bytes]]
    sequenced: bool = False
