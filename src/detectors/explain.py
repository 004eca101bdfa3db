"""One-sentence explanations (Chinese, then English) for the electricity rules."""

from __future__ import annotations

from ingest.schema import SLOT_MINUTES


def _hours(slots: int) -> str:
    return f"{slots * SLOT_MINUTES / 60:.1f}"


def suspended_operation(observed: float, standby: float, slots: int) -> str:
    h = _hours(slots)
    return (
        f"停产整顿期间用电 {observed:.1f} kWh/15min，高于待机水平 {standby:.1f} kWh，持续 {h} 小时"
        f" / consumption while suspended at {observed:.1f} kWh per 15 min, above the standby "
        f"level of {standby:.1f} kWh, for {h} h"
    )


def night_production(observed: float, production: float, window: str, slots: int) -> str:
    pct = 100.0 * observed / production if production > 0 else float("inf")
    h = _hours(slots)
    return (
        f"夜间 {window} 用电达日间生产水平的 {pct:.0f}%，持续 {h} 小时"
        f" / night use at {pct:.0f}% of daytime production level for {h} h"
    )


def usage_surge(observed: float, baseline: float, z: float, slots: int) -> str:
    ratio = observed / baseline if baseline > 0 else float("inf")
    h = _hours(slots)
    return (
        f"用电为同时段基线的 {ratio:.1f} 倍（z={z:.0f}），持续 {h} 小时"
        f" / consumption {ratio:.1f}x the same-slot baseline (z={z:.0f}) for {h} h"
    )


def meter_offline(slots: int) -> str:
    h = _hours(slots)
    return f"电表已 {h} 小时无数据 / no readings from the meter for {h} h"
