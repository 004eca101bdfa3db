"""The offline HTML reports: one self-contained file each (inline CSS and SVG, no script)."""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup

from tuning import svg
from tuning.backtest import CANDIDATE, REFERENCE
from tuning.report_text import pair

SET_LABELS = {REFERENCE: "现行 reference", CANDIDATE: "候选 candidate"}


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tuning", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pair"] = _pair
    return env


def _pair(values: dict, percent: bool = False) -> str:
    return pair(values, "{:.0%}" if percent else "{}")


def backtest_html(report: dict) -> str:
    """The backtest report: summary, charts, per county and rule, budget, outcomes."""
    daily = report["daily"]
    per_day = svg.lines(
        list(range(len(daily["days"]))),
        {SET_LABELS[n]: daily[n] for n in (REFERENCE, CANDIDATE)},
        "告警/日 alerts per day",
        x_text=[d[5:] for d in daily["days"]],
    )
    counties = report["counties"]
    precision = svg.bars(
        [c["county"] for c in counties],
        {SET_LABELS[n]: [c["precision"][n] for c in counties] for n in (REFERENCE, CANDIDATE)},
        "准确率 precision",
        percent=True,
    )
    return (
        _templates()
        .get_template("backtest.html")
        .render(
            r=report,
            labels=SET_LABELS,
            per_day_svg=Markup(per_day),
            precision_svg=Markup(precision),
        )
    )


def sweep_html(sweep: dict) -> str:
    """The trade-off curve of a sweep and its proposal."""
    points = sweep["points"]
    curve = svg.lines(
        [p["value"] for p in points],
        {
            "准确率 precision": [p["precision"] for p in points],
            "召回率 recall": [p["recall"] for p in points],
        },
        "precision / recall",
        percent=True,
        mark_x=None if sweep["proposal"] is None else sweep["proposal"]["value"],
        x_label=f"{sweep['rule']}.{sweep['param']}",
    )
    alerts = svg.lines(
        [p["value"] for p in points],
        {"告警 alerts": [p["alerts"] for p in points]},
        "告警 alerts",
        x_label=f"{sweep['rule']}.{sweep['param']}",
    )
    return (
        _templates()
        .get_template("tune.html")
        .render(s=sweep, curve_svg=Markup(curve), alerts_svg=Markup(alerts))
    )
