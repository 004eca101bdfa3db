"""One-sentence explanations (Chinese, then English) for the gas, water and sensor rules."""

from __future__ import annotations

from ingest.catalogue import CATALOGUE


def duration(minutes: float) -> tuple[str, str]:
    """A duration in minutes (under two hours) or hours, Chinese and English."""
    if minutes < 120:
        return f"{minutes:.0f} 分钟", f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} 小时", f"{minutes / 60:.1f} h"


def sensor_label(metric: str) -> tuple[str, str]:
    """The catalogue's label of a metric, Chinese and English."""
    zh, _, en = CATALOGUE[metric].label.partition(" / ")
    return zh, en


def pressure_out_of_bounds(high: bool, extreme: float, bound: float, minutes: float) -> str:
    zh_d, en_d = duration(minutes)
    if high:
        return (
            f"燃气压力最高 {extreme:.1f} kPa，超过上限 {bound:.1f} kPa，持续 {zh_d}"
            f" / gas pressure up to {extreme:.1f} kPa, above the upper bound of {bound:.1f} kPa, "
            f"for {en_d}"
        )
    return (
        f"燃气压力最低 {extreme:.1f} kPa，低于下限 {bound:.1f} kPa，持续 {zh_d}"
        f" / gas pressure down to {extreme:.1f} kPa, below the lower bound of {bound:.1f} kPa, "
        f"for {en_d}"
    )


def pressure_drop_rate(drop_pct: float, window: int, mean: float) -> str:
    return (
        f"燃气压力 {window} 分钟内下降 {drop_pct:.0f}%（期间平均 {mean:.1f} kPa），疑似管道破裂"
        f" / gas pressure fell {drop_pct:.0f}% within {window} min (mean {mean:.1f} kPa while "
        f"down), a possible rupture"
    )


def night_min_flow(night_min: float, usual: float, nights: int) -> str:
    pct = 100 * (night_min / usual - 1) if usual > 0 else float("inf")
    return (
        f"夜间最小流量 {night_min:.1f} m³/h，比本站通常的 {usual:.1f} m³/h 高 {pct:.0f}%"
        f"（{nights} 晚），疑似泄漏"
        f" / night minimum flow {night_min:.1f} m³/h, {pct:.0f}% above the station's usual "
        f"{usual:.1f} m³/h ({nights} night{'s' if nights > 1 else ''}), a possible leak"
    )


def leak_concentration(peak: float, alarm: bool, level: float, minutes: float) -> str:
    zh_d, en_d = duration(minutes)
    zh_l, en_l = ("报警值", "alarm level") if alarm else ("预警值", "warning level")
    return (
        f"可燃气体浓度最高 {peak:.1f} %LEL，超过{zh_l} {level:g} %LEL，持续 {zh_d}"
        f" / gas concentration up to {peak:.1f} %LEL, over the {en_l} of {level:g} %LEL, "
        f"for {en_d}"
    )


LEVEL_NAMES = {
    "flood_limit_level_m": ("汛限水位", "flood-limit level"),
    "warning_level_m": ("警戒水位", "warning level"),
    "guarantee_level_m": ("保证水位", "guarantee level"),
}


def level_over_limit(peak: float, limit_name: str, limit: float, minutes: float) -> str:
    zh_d, en_d = duration(minutes)
    zh_l, en_l = LEVEL_NAMES[limit_name]
    return (
        f"水位最高 {peak:.2f} m，超过{zh_l} {limit:.2f} m，持续 {zh_d}"
        f" / water level up to {peak:.2f} m, over the {en_l} of {limit:.2f} m, for {en_d}"
    )


def level_rise_rate(rate: float, limit: float, window: int) -> str:
    return (
        f"水位上涨速率达 {rate:.2f} m/h（{window} 分钟窗口），超过 {limit:.2f} m/h"
        f" / water level rising {rate:.2f} m/h over {window} min, faster than {limit:.2f} m/h"
    )


def rainfall_accumulation(total: float, hours: int, limit: float) -> str:
    return (
        f"{hours} 小时累计降雨 {total:.1f} mm，超过 {limit:g} mm"
        f" / {total:.1f} mm of rain in {hours} h, over {limit:g} mm"
    )


def eco_flow_shortfall(mean: float, required: float, minutes: float) -> str:
    zh_d, en_d = duration(minutes)
    return (
        f"下泄流量 {mean:.2f} m³/s，低于核定生态流量 {required:.2f} m³/s，持续 {zh_d}"
        f" / discharge {mean:.2f} m³/s, below the required ecological flow of "
        f"{required:.2f} m³/s, for {en_d}"
    )


def sensor_stuck(metric: str, value: float, minutes: float) -> str:
    zh_s, en_s = sensor_label(metric)
    zh_d, en_d = duration(minutes)
    unit = CATALOGUE[metric].unit
    return (
        f"{zh_s}传感器读数 {value:g} {unit} 已 {zh_d}不变，疑似卡滞"
        f" / the {en_s} sensor has read {value:g} {unit} unchanged for {en_d} (stuck)"
    )


def sensor_spike(metric: str, value: float) -> str:
    zh_s, en_s = sensor_label(metric)
    unit = CATALOGUE[metric].unit
    return (
        f"{zh_s}传感器出现不可能的突跳读数 {value:g} {unit}"
        f" / the {en_s} sensor spiked to an impossible {value:g} {unit}"
    )


def sensor_gap(metric: str, minutes: float) -> str:
    zh_s, en_s = sensor_label(metric)
    zh_d, en_d = duration(minutes)
    return f"{zh_s}传感器已 {zh_d}无数据 / no readings from the {en_s} sensor for {en_d}"
