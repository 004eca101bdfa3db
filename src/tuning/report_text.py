"""The terminal view of a backtest report and of a sweep: plain aligned tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from dianyan.alerts_cli import _pad, _width
from tuning.backtest import CANDIDATE, REFERENCE


def table(header: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    """Columns padded to their widest cell (Chinese characters count two columns)."""
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        out.write("  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def pair(values: dict, fmt: str = "{}") -> str:
    """``reference → candidate``, or one value when both sets agree."""
    shown = ["-" if v is None else fmt.format(v) for v in (values[REFERENCE], values[CANDIDATE])]
    return shown[0] if shown[0] == shown[1] else f"{shown[0]} → {shown[1]}"


def write_backtest(report: dict, out: TextIO) -> None:
    """Summary, per county and rule, budget and outcomes, in that order."""
    sets, readings = report["sets"], report["readings"]
    ref, cand = sets[REFERENCE], sets[CANDIDATE]
    out.write(
        f"回测 backtest: candidate {cand['path']} ({cand['version']}) "
        f"against {ref['path']} ({ref['version']})\n"
        f"scope: {_scope(report['scope'])}; {readings['read']:,} readings read, "
        f"{readings['replayed']:,} replayed in {readings['seconds']:.1f} s "
        f"({readings['per_second']:,} readings/s)\n\n"
    )
    rows = [
        (
            r["county"],
            r["rule"],
            pair({REFERENCE: r[REFERENCE], CANDIDATE: r[CANDIDATE]}),
            f"+{r['gained']}",
            f"-{r['lost']}",
            f"{pair(r['confirmed_kept'])} / {r['confirmed']}",
            f"{pair(r['explained_avoided'])} / {r['explained']}",
            pair(r["unverified"]),
            pair(r["precision"], "{:.2f}"),
            pair(r["recall"], "{:.2f}"),
        )
        for r in report["rows"]
    ]
    header = (
        "县 county",
        "规则 rule",
        "告警 alerts",
        "gained",
        "lost",
        "属实保留 confirmed kept",
        "说明避免 explained avoided",
        "未核查 unverified",
        "precision",
        "recall",
    )
    table(header, rows, out)
    if not rows:
        out.write("(no alerts under either set in this scope)\n")
    out.write("\n告警预算 alert budget (alerts per week against inspection capacity)\n")
    budget = [
        (
            c["county"],
            c["capacity_per_week"],
            *_budget(c, REFERENCE),
            *_budget(c, CANDIDATE),
            pair(c["precision"], "{:.2f}"),
        )
        for c in report["counties"]
    ]
    table(
        (
            "县 county",
            "capacity/wk",
            "reference/wk (peak)",
            "fits",
            "candidate/wk (peak)",
            "fits",
            "precision",
        ),
        budget,
        out,
    )
    o = report["outcomes"]
    out.write(
        f"\n核查结果 outcomes: {o['verified_in_scope']} verified alerts in scope: "
        f"{o['judged']} judged ({o['confirmed']} confirmed, {o['explained']} explained), "
        f"{o['unknown']} unknown to this history; {o['outside_scope']} outside the scope\n"
    )
    if o["unknown"]:
        ids = ", ".join(o["unknown_alert_ids"][:10])
        more = "" if o["unknown"] <= 10 else f" and {o['unknown'] - 10} more"
        out.write(f"  unknown (entity not replayed or outside its time): {ids}{more}\n")
    out.write(
        f"an empty store would hold {ref['store_alerts']} alerts under the reference and "
        f"{cand['store_alerts']} under the candidate (an open alert absorbs its enterprise's "
        "later episodes of the rule; the table counts episodes)\n"
    )


def _budget(county: dict, name: str) -> tuple[str, str]:
    fits = county["fits"][name]
    mark = "-" if fits is None else ("yes 是" if fits else "NO 否")
    return f"{county['per_week'][name]:.1f} ({county['peak_week'][name]})", mark


def _scope(scope: dict) -> str:
    period = f"{scope['from'] or '…'} – {scope['to'] or '…'}"
    return f"{scope['region'] or 'all regions'}, {period}"


def write_sweep(sweep: dict, out: TextIO) -> None:
    """The trade-off curve, then the proposal or why there is none."""
    out.write(
        f"调参 tune {sweep['rule']}.{sweep['param']} for {sweep['region']} "
        f"(current {sweep['current']}; stricter when {sweep['stricter_when']}); "
        f"target precision >= {sweep['target_precision']}"
        + (f", recall >= {sweep['min_recall']}" if sweep["min_recall"] is not None else "")
        + "\n"
    )
    r = sweep["readings"]
    out.write(
        f"{len(sweep['points'])} values replayed over {r['replayed']:,} readings in "
        f"{r['seconds']:.1f} s; outcomes: {sweep['outcomes']['confirmed']} confirmed, "
        f"{sweep['outcomes']['explained']} explained\n\n"
    )
    proposal = sweep["proposal"]
    rows = []
    for p in sweep["points"]:
        marks = []
        if p["value"] == sweep["current"]:
            marks.append("current")
        if proposal is not None and p["value"] == proposal["value"]:
            marks.append("PROPOSED")
        rows.append(
            (
                p["value"],
                p["alerts"],
                f"{p['confirmed_kept']}/{p['confirmed']}",
                f"{p['explained_kept']}/{p['explained']}",
                p["unverified"],
                p["precision"],
                p["recall"],
                "yes" if p["meets"] else "",
                " ".join(marks),
            )
        )
    header = (
        sweep["param"],
        "alerts",
        "confirmed kept",
        "explained kept",
        "unverified",
        "precision",
        "recall",
        "meets",
        "",
    )
    table(header, rows, out)
    out.write("\n")
    if proposal is None:
        out.write(
            "no value in the grid meets the targets (or it would raise alerts nobody has "
            "verified); widen the grid with --grid or relax the targets.\n"
        )
        return
    current = next(p for p in sweep["points"] if p["value"] == sweep["current"])
    out.write(
        f"proposed 建议: {sweep['param']} = {proposal['value']} "
        f"(precision {_cell(current['precision'])} → {_cell(proposal['precision'])}, "
        f"recall {_cell(current['recall'])} → {_cell(proposal['recall'])}, "
        f"recall lost {_cell(sweep['recall_lost'])}; "
        f"alerts {current['alerts']} → {proposal['alerts']})\n"
    )
    if sweep["industry_or_entity_overrides"]:
        out.write(
            f"note: {sweep['industry_or_entity_overrides']} enterprises in {sweep['region']} "
            f"keep their industry or entity override of {sweep['param']}, which wins over "
            "a region override.\n"
        )
