"""How fast the province simulator writes a large run, and how big the result is.

    python benchmarks/simulate_speed.py                     # 10,000 enterprises x 60 days
    python benchmarks/simulate_speed.py --enterprises 1000 --days 7 --json out/sim_speed.json

Seeded and network-free. Prints wall time, readings per second, file size and peak
memory; ``--json PATH`` writes the same figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ingest.simulator import simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--counties", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", help="output directory (default: a temporary one, removed)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="dianyan-sim-"))
    try:
        began = time.perf_counter()
        summary = simulate(out, args.counties, args.enterprises, args.days, args.seed)
        elapsed = time.perf_counter() - began
        size = (out / "readings.parquet").stat().st_size
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)

    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = rss / 1024 / (1024 if sys.platform == "darwin" else 1)
    figures = {
        "enterprises": args.enterprises,
        "days": args.days,
        "counties": args.counties,
        "gas_stations": summary.gas_stations,
        "water_stations": summary.water_stations,
        "seed": args.seed,
        "readings": summary.readings,
        "seconds": round(elapsed, 2),
        "readings_per_second": round(summary.readings / elapsed),
        "seconds_per_day": round(elapsed / args.days, 3),
        "parquet_mib": round(size / 2**20, 1),
        "bytes_per_reading": round(size / max(summary.readings, 1), 2),
        "peak_rss_mib": round(peak_mib, 1),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(
            f"{key:<{width}}  {value:,}" if isinstance(value, int) else f"{key:<{width}}  {value}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
