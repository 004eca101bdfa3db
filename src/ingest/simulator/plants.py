"""Simulated enterprises: master data, production level and daily load shape.

A plant's consumption in a 15-minute slot is

    level × drift × day factor × (standby + (1 − standby) × f) × noise

where ``f`` in [0, 1] is the production fraction given by the plant's shift shape, the day
type (workday, rest day, long holiday) and any injected event. Standby is what a plant
draws when nothing runs (lighting, pumps, ventilation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ingest.schema import SLOTS_PER_DAY
from ingest.simulator.places import County
from ingest.simulator.timeline import Timeline

INDUSTRIES = (
    "hazardous_chemicals",
    "non_coal_mining",
    "coal_mining",
    "fireworks",
    "metallurgy",
    "industry_trade",
)
_INDUSTRY_WEIGHTS = np.array([0.20, 0.15, 0.08, 0.07, 0.15, 0.35])
_NAME_SUFFIXES = {
    "hazardous_chemicals": ("化工有限公司", "精细化工有限公司", "新材料科技有限公司"),
    "non_coal_mining": ("矿业有限公司", "石料有限公司", "石膏矿"),
    "coal_mining": ("煤矿", "煤业有限公司"),
    "fireworks": ("烟花爆竹有限公司", "花炮厂"),
    "metallurgy": ("钢铁有限公司", "铸造有限公司", "冶金有限公司"),
    "industry_trade": ("机械制造有限公司", "纺织有限公司", "食品有限公司", "建材有限公司"),
}
_TRADE_NAMES = tuple("华鑫泰盛宏源德恒隆兴丰瑞金安达润祥通永昌鲁东晟嘉立")

ONE_SHIFT, TWO_SHIFT, CONTINUOUS, NIGHT_SHIFT = 0, 1, 2, 3
SHAPES = ("one_shift", "two_shift", "continuous", "night_shift")

REST_IDLE, REST_REDUCED, REST_FULL = 0, 1, 2
_REST_MODE_P = {  # per shape: P(idle), P(reduced), P(full) on ordinary rest days
    ONE_SHIFT: (0.6, 0.3, 0.1),
    TWO_SHIFT: (0.3, 0.5, 0.2),
    CONTINUOUS: (0.0, 0.3, 0.7),
    NIGHT_SHIFT: (0.4, 0.4, 0.2),
}
#: Share of register meters (electricity.register_kwh) among enterprise meters.
REGISTER_SHARE = 0.10


@dataclass(eq=False)
class Plants:
    """Enterprise arrays, one row per plant, in id order."""

    ids: np.ndarray  # str, E00001...
    names: list[str]
    county: np.ndarray  # str, 6-digit county code
    industry: np.ndarray  # str
    shape: np.ndarray  # int8, index into SHAPES
    level: np.ndarray  # production level, kWh per slot
    standby: np.ndarray  # fraction of the level drawn at standby
    noise: np.ndarray  # sigma of the multiplicative per-reading noise
    drift: np.ndarray  # fractional change of the level per 30 days
    profile: np.ndarray  # (plants, 96) production fraction f on a workday
    shift_start: np.ndarray  # first production slot of the day (night shift: evening)
    shift_end: np.ndarray  # first slot after production (night shift: morning)
    rest_mode: np.ndarray  # int8 REST_* on ordinary rest days
    rest_factor: np.ndarray  # f multiplier on reduced rest days
    holiday_off: np.ndarray  # bool: shuts down for long holidays
    holiday_pre: np.ndarray  # days shut before a long holiday starts
    holiday_post: np.ndarray  # days shut after it ends
    holiday_factor: np.ndarray  # f multiplier on holiday days for plants that keep running
    register: np.ndarray  # bool: reports a cumulative register
    register_max: np.ndarray  # kWh where the register wraps (nan for interval meters)
    register_start: np.ndarray  # register reading at the start (nan for interval meters)

    def __len__(self) -> int:
        return self.ids.size

    def holiday_shut(self, day: int, timeline: Timeline) -> np.ndarray:
        """Plants shut on ``day`` for a long holiday (including days before and after)."""
        shut = np.zeros(len(self), dtype=bool)
        for first, end in timeline.festival_runs:
            shut |= (day >= first - self.holiday_pre) & (day < end + self.holiday_post)
        return shut & self.holiday_off

    def expected_daily_kwh(self) -> np.ndarray:
        """Rough consumption of a workday, for sizing registers."""
        s = self.standby[:, None]
        return self.level * (s + (1 - s) * self.profile).sum(axis=1)


def _shape_of(rng: np.random.Generator, industry: np.ndarray) -> np.ndarray:
    n = industry.size
    u = rng.random(n)
    shape = np.full(n, ONE_SHIFT, dtype=np.int8)
    two_p = np.select(
        [industry == "coal_mining", industry == "non_coal_mining"], [0.7, 0.5], default=0.3
    )
    shape[u < two_p] = TWO_SHIFT
    can_continuous = np.isin(industry, ["hazardous_chemicals", "metallurgy"])
    shape[can_continuous & (rng.random(n) < 0.4)] = CONTINUOUS
    # Night shifts to save on tariffs; fireworks plants are forbidden to work at night.
    can_night = (shape != CONTINUOUS) & (industry != "fireworks")
    shape[can_night & (rng.random(n) < 0.035)] = NIGHT_SHIFT
    # A province of any size shows both benign night patterns at least once.
    for wanted, allowed in ((CONTINUOUS, can_continuous), (NIGHT_SHIFT, can_night)):
        pool = np.flatnonzero(allowed & (shape != CONTINUOUS) & (shape != NIGHT_SHIFT))
        if n >= 20 and not (shape == wanted).any() and pool.size:
            shape[rng.choice(pool)] = wanted
    return shape


def _profiles(
    rng: np.random.Generator, shape: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Workday production fraction per slot, with each plant's own shift times."""
    n = shape.size
    k = np.arange(SLOTS_PER_DAY)[None, :]
    start = np.select(
        [shape == ONE_SHIFT, shape == TWO_SHIFT, shape == NIGHT_SHIFT],
        [rng.integers(30, 34, n), rng.integers(24, 27, n), rng.integers(79, 82, n)],
        default=0,
    )[:, None]
    # Two-shift plants are fully down by the 22:00 reading (slot 87 is 21:45-22:00).
    end = np.select(
        [shape == ONE_SHIFT, shape == TWO_SHIFT, shape == NIGHT_SHIFT],
        [rng.integers(66, 71, n), rng.integers(85, 88, n), rng.integers(23, 26, n)],
        default=SLOTS_PER_DAY,
    )[:, None]

    day_on = (k >= start) & (k < end)
    day = np.where(day_on, 1.0, 0.0)
    day = np.where(k == start, 0.6, day)
    day = np.where(k == end - 1, 0.5, day)
    lunch = (k >= 48) & (k < 52) & (shape[:, None] == ONE_SHIFT)
    day = np.where(lunch, day * rng.uniform(0.4, 0.6, n)[:, None], day)
    change = (k >= 56) & (k < 58) & (shape[:, None] == TWO_SHIFT)
    day = np.where(change, day * 0.8, day)

    night_on = (k >= start) | (k < end)
    night = np.where(night_on, 1.0, 0.05)
    night = np.where(k == start, 0.6, night)
    night = np.where(k == end - 1, 0.5, night)

    continuous = np.broadcast_to(0.9 + 0.06 * np.sin(2 * np.pi * (k - 40) / SLOTS_PER_DAY), (n, 96))
    continuous = continuous * rng.uniform(0.95, 1.05, n)[:, None]

    s = shape[:, None]
    profile = np.select([s == CONTINUOUS, s == NIGHT_SHIFT], [continuous, night], default=day)
    return profile, start[:, 0], end[:, 0]


def _names(rng: np.random.Generator, county: list[County], industry: np.ndarray) -> list[str]:
    # One loop per plant here is master data, built once, not a reading path.
    trade = rng.integers(0, len(_TRADE_NAMES), (industry.size, 2))
    pick = rng.random(industry.size)
    names = []
    for i, ind in enumerate(industry):
        suffixes = _NAME_SUFFIXES[str(ind)]
        a, b = (_TRADE_NAMES[j] for j in trade[i])
        names.append(f"{county[i].short}{a}{b}{suffixes[int(pick[i] * len(suffixes))]}")
    return names


def make_plants(
    rng: np.random.Generator, counties: tuple[County, ...], n: int, timeline: Timeline
) -> Plants:
    """``n`` enterprises spread over ``counties`` with their load behaviour."""
    ids = np.array([f"E{i + 1:05d}" for i in range(n)])
    county_of = [counties[i] for i in rng.integers(0, len(counties), n)]
    industry = np.asarray(INDUSTRIES)[rng.choice(len(INDUSTRIES), n, p=_INDUSTRY_WEIGHTS)]
    shape = _shape_of(rng, industry)
    profile, shift_start, shift_end = _profiles(rng, shape)

    level = np.clip(np.round(rng.lognormal(np.log(180.0), 0.9, n), 1), 20.0, 2000.0)
    rest_p = np.array([_REST_MODE_P[int(s)] for s in range(len(SHAPES))])[shape]
    rest_mode = (rng.random(n)[:, None] > np.cumsum(rest_p, axis=1)).sum(axis=1).astype(np.int8)

    holiday_off = rng.random(n) < np.where(shape == CONTINUOUS, 0.25, 0.85)
    register = np.zeros(n, dtype=bool)
    n_register = min(n, max(2, round(REGISTER_SHARE * n)))
    register[rng.choice(n, n_register, replace=False)] = True
    plants = Plants(
        ids=ids,
        names=_names(rng, county_of, industry),
        county=np.array([c.code for c in county_of]),
        industry=industry,
        shape=shape,
        level=level,
        standby=rng.uniform(0.02, 0.05, n),
        noise=rng.uniform(0.05, 0.10, n),
        drift=rng.uniform(-0.04, 0.04, n),
        profile=profile,
        shift_start=shift_start,
        shift_end=shift_end,
        rest_mode=rest_mode,
        rest_factor=rng.uniform(0.4, 0.8, n),
        holiday_off=holiday_off,
        holiday_pre=rng.choice([0, 0, 0, 0, 1, 2], n),
        holiday_post=rng.choice([0, 0, 1, 2, 3, 5], n),
        holiday_factor=rng.uniform(0.5, 0.85, n),
        register=register,
        register_max=np.full(n, np.nan),
        register_start=np.full(n, np.nan),
    )
    total = plants.expected_daily_kwh() * max(timeline.days, 1)
    digits = np.ceil(np.log10(total * 20))
    plants.register_max[register] = 10.0 ** digits[register]
    plants.register_start[register] = np.round(
        plants.register_max[register] * rng.uniform(0.1, 0.5, n_register), 2
    )
    return plants
