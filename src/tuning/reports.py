"""Where backtest and tune reports are kept, so the feed's stats view can link to them.

A reports directory (default ``out/reports``) holds ``<name>.html`` and ``<name>.json`` per
report and ``index.json``, newest first. A report covers the counties it replayed; a user
sees it when every one of them lies inside the user's jurisdiction.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_REPORTS_DIR = Path("out/reports")
INDEX = "index.json"
KEEP = 200  # index entries kept; older report files stay on disk
_NAME = re.compile(r"^[a-z]+-[0-9]{8}-[0-9]{6}-[a-z0-9-]+$")


@dataclass(frozen=True)
class ReportEntry:
    """One report in the index."""

    name: str
    kind: str  # backtest | tune
    created: str  # ISO 8601, UTC
    region: str | None  # the --region it was run with
    counties: tuple[str, ...]  # counties it covers
    rules: tuple[str, ...]  # rules it reports on
    title: str

    def visible_to(self, region: str | None) -> bool:
        """A user of ``region`` (None: everywhere) may read it."""
        if region is None:
            return True
        if self.counties:
            return all(c.startswith(region) for c in self.counties)
        return self.region is not None and self.region.startswith(region)

    def covers(self, county: str, rule: str) -> bool:
        return county in self.counties and rule in self.rules

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["counties"], out["rules"] = list(self.counties), list(self.rules)
        out["html"], out["json"] = f"/reports/{self.name}.html", f"/reports/{self.name}.json"
        return out


def save_report(
    directory: str | Path,
    kind: str,
    report: dict,
    html: str,
    *,
    region: str | None,
    counties: list[str],
    rules: list[str],
    title: str,
) -> Path:
    """Write the report's JSON and HTML and put it first in the index; the HTML's path."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    stem = f"{kind}-{now:%Y%m%d-%H%M%S}-{region or 'all'}"
    name, n = stem, 1
    while (root / f"{name}.json").exists():
        n += 1
        name = f"{stem}-{n}"
    entry = ReportEntry(
        name=name,
        kind=kind,
        created=now.isoformat(timespec="seconds"),
        region=region,
        counties=tuple(sorted(counties)),
        rules=tuple(sorted(rules)),
        title=title,
    )
    (root / f"{name}.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    html_path = root / f"{name}.html"
    html_path.write_text(html, encoding="utf-8")
    entries = [entry, *list_reports(root)][:KEEP]
    tmp = root / f".{INDEX}.tmp"
    tmp.write_text(
        json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2), encoding="utf-8"
    )
    tmp.replace(root / INDEX)
    return html_path


def list_reports(directory: str | Path) -> list[ReportEntry]:
    """The index, newest first; empty when there is no reports directory yet."""
    try:
        items = json.loads((Path(directory) / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        try:
            out.append(
                ReportEntry(
                    name=str(item["name"]),
                    kind=str(item["kind"]),
                    created=str(item["created"]),
                    region=item["region"],
                    counties=tuple(item["counties"]),
                    rules=tuple(item["rules"]),
                    title=str(item["title"]),
                )
            )
        except (KeyError, TypeError):
            continue  # an entry written by another version: skip it, keep the others
    return [e for e in out if _NAME.match(e.name)]


def report_path(directory: str | Path, filename: str) -> tuple[ReportEntry, Path] | None:
    """The indexed report behind ``<name>.html`` / ``<name>.json``, or None."""
    name, dot, suffix = filename.rpartition(".")
    if not dot or suffix not in ("html", "json") or not _NAME.match(name):
        return None
    for entry in list_reports(directory):
        if entry.name == name:
            path = Path(directory) / filename
            return (entry, path) if path.is_file() else None
    return None
