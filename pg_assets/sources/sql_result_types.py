"""A `query` resource's column types, from the driver's description of its result.

A query has no table to reflect, so its result says what it holds. psycopg2 describes
each column by its Postgres type OID (with numeric precision and scale), pymysql by its
MySQL field type and length; those become the same column hints a reflected table's
columns get (`sql_types`), so `select * from t` lands as the table `t` would: integers
keep their width, numerics their precision and scale, `timestamptz` its zone, json and
arrays stay JSON. `prepare` puts them under the resource's own hints; the run reads the
values into the matching Arrow types (`sql_arrow`).

A column the driver does not describe (SQLite describes none; MySQL's texts and blobs
share field types) takes its type from the first chunk's values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from pg_assets.json_codec import column_json
from pg_assets.normalize.sql_types import Hint

Described = tuple[Hint, Callable[[Any], Any] | None]  # a column's hint, and its per-value conversion

_JSON: Described = ({"data_type": "json"}, column_json)


def _plain(data_type: str, **extra: Any) -> Described:
    return {"data_type": data_type, **extra}, None


def _time_of(delta: Any) -> Any:
    """pymysql reads TIME as a `timedelta` since midnight."""
    return (dt.datetime.min + delta).time() if isinstance(delta, dt.timedelta) else delta


# Postgres type OID -> hint; numeric (1700) is sized from the description
PG_OIDS: dict[int, Described] = {
    16: _plain("bool"), 20: _plain("bigint"), 21: _plain("bigint", precision=16),
    23: _plain("bigint", precision=32), 700: _plain("double"), 701: _plain("double"), 25: _plain("text"),
    1042: _plain("text"), 1043: _plain("text"), 1082: _plain("date"), 1083: _plain("time"),
    1114: _plain("timestamp", timezone=False), 1184: _plain("timestamp", timezone=True),
    2950: ({"data_type": "text"}, str), 17: _plain("binary"), 114: _JSON, 3802: _JSON,
    # arrays, as JSON: bool, int2, int4, int8, text, varchar, float4, float8, numeric, date, timestamp(tz), uuid,
    # json, jsonb
    **{oid: _JSON for oid in (1000, 1005, 1007, 1016, 1009, 1015, 1021, 1022, 1231, 1182, 1115, 1185, 2951,
                              199, 3807)},
}
PG_NUMERIC, PG_SIZED_TEXT = 1700, frozenset({1042, 1043})

# MySQL field type -> hint; DECIMAL/NEWDECIMAL (0, 246) are sized and TINY (1) told apart by the description
MYSQL_FIELDS: dict[int, Described] = {
    2: _plain("bigint", precision=16), 3: _plain("bigint", precision=32), 9: _plain("bigint", precision=32),
    8: _plain("bigint"), 4: _plain("double"), 5: _plain("double"), 7: _plain("timestamp", timezone=True),
    12: _plain("timestamp", timezone=False), 10: _plain("date"), 11: ({"data_type": "time"}, _time_of),
    245: _JSON,
}
MYSQL_DECIMALS, MYSQL_TINY = frozenset({0, 246}), 1


def _decimal(precision: int | None, scale: int | None) -> Described:
    return _plain("decimal", precision=precision, scale=scale or 0) if precision else _plain("decimal")


def _postgres(entry: Sequence[Any]) -> Described | None:
    code, size, precision, scale = entry[1], entry[3], entry[4], entry[5]
    if code == PG_NUMERIC:  # psycopg2 gives an unconstrained numeric no (or a negative) precision
        return _decimal(precision if precision and precision > 0 else None, scale)
    if code in PG_SIZED_TEXT and size and size > 0:  # varchar(n), char(n)
        return _plain("text", precision=size)
    return PG_OIDS.get(code)


def _mysql(entry: Sequence[Any]) -> Described | None:
    code, length, scale = entry[1], entry[3], entry[5]
    if code in MYSQL_DECIMALS:  # the length counts the digits and the point (and the sign, when signed)
        return _decimal(max(1, length - (1 if scale else 0)) if length else None, scale)
    if code == MYSQL_TINY:
        return _plain("bool") if length == 1 else _plain("bigint", precision=16)
    return MYSQL_FIELDS.get(code)


DESCRIBERS: dict[str, Callable[[Sequence[Any]], Described | None]] = {"psycopg2": _postgres, "pymysql": _mysql}


def described(driver: str, description: Sequence[Sequence[Any]]) -> dict[str, Described]:
    """The columns of a result the driver describes precisely, by name, with their hints."""
    describe = DESCRIBERS.get(driver)
    if describe is None:
        return {}
    found = ((entry[0], describe(entry)) for entry in description)
    return {name: d for name, d in found if d is not None}
