"""What a backtest or a sweep looks at: a region and a period of local days.

The region narrows the readings replayed (an entity's detections depend only on its own
readings) and the report. The period narrows the report only: history before ``--from``
is still replayed so that baselines are as warm as they were when streaming, and
readings from ``--to``'s next day on are not read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alerts.region import check_region
from dianyan.errors import DianyanError
from ingest.registry import Registry
from ingest.schema import CST, CST_OFFSET_MS

DAY_MS = 86_400_000


def local_day_ms(text: str, option: str) -> int:
    """UTC ms of local midnight starting the day ``YYYY-MM-DD``."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise DianyanError(
            f"{option} {text!r} is not a date; give a local day as YYYY-MM-DD, e.g. 2026-02-01."
        ) from None
    return int(datetime.datetime.combine(day, datetime.time(), CST).timestamp() * 1000)


def local_day(ms: np.ndarray | int) -> np.ndarray | int:
    """Local (CST) day number since 1970-01-01 of UTC epoch ms."""
    return (ms + CST_OFFSET_MS) // DAY_MS


def day_text(day: int) -> str:
    """``YYYY-MM-DD`` of a local day number."""
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))).isoformat()


@dataclass(frozen=True, slots=True)
class Scope:
    """Region (division code prefix, None: everywhere) and period [from_ms, to_ms)."""

    region: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None

    @classmethod
    def parse(
        cls, region: str | None = None, from_day: str | None = None, to_day: str | None = None
    ) -> Scope:
        """From command-line text; ``to_day`` is inclusive (its whole day is in the period)."""
        if region is not None:
            try:
                check_region(region)
            except ValueError as exc:
                raise DianyanError(f"--region: {exc}") from None
        start = None if from_day is None else local_day_ms(from_day, "--from")
        end = None if to_day is None else local_day_ms(to_day, "--to") + DAY_MS
        if start is not None and end is not None and end <= start:
            raise DianyanError(f"--to {to_day} is before --from {from_day}; swap them.")
        return cls(region, start, end)

    def to_dict(self) -> dict[str, object]:
        return {
            "region": self.region,
            "from": None if self.from_ms is None else day_text(local_day(self.from_ms)),
            "to": None if self.to_ms is None else day_text(local_day(self.to_ms) - 1),
        }

    def label(self) -> str:
        d = self.to_dict()
        period = f"{d['from'] or '…'} – {d['to'] or '…'}"
        return f"{self.region or 'all regions'}, {period}"

    def entities(self, registry: Registry | None) -> pa.Array | None:
        """Ids of the region's entities (None: no region filter)."""
        if self.region is None:
            return None
        if registry is None:
            raise DianyanError(
                "--region needs --registry: without master data no entity has a county."
            )
        inside = np.char.startswith(registry.county.astype(str), self.region)
        return pa.array(registry.entity_ids[inside].astype(str), pa.string())

    def readings(self, batch: pa.Table, entities: pa.Array | None) -> pa.Table:
        """The rows to replay: the region's entities, before the end of the period."""
        mask = None
        if entities is not None:
            mask = pc.is_in(batch["entity_id"], value_set=entities)
        if self.to_ms is not None:
            end = pa.scalar(self.to_ms, pa.timestamp("ms", tz="UTC"))
            early = pc.less(batch["ts"], end)
            mask = early if mask is None else pc.and_(mask, early)
        return batch if mask is None else batch.filter(mask)

    def covers_county(self, counties: pd.Series) -> np.ndarray:
        if self.region is None:
            return np.ones(len(counties), dtype=bool)
        return counties.astype(str).str.startswith(self.region).to_numpy()

    def covers_time(self, ms: pd.Series) -> np.ndarray:
        ok = np.ones(len(ms), dtype=bool)
        if self.from_ms is not None:
            ok &= (ms >= self.from_ms).to_numpy()
        if self.to_ms is not None:
            ok &= (ms < self.to_ms).to_numpy()
        return ok

    def episodes(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Episodes in the region that started in the period."""
        keep = self.covers_county(frame["county"]) & self.covers_time(frame["start_ms"])
        return frame[keep]
