"""The province simulator: realistic electricity, gas and water readings with labelled
violations, benign look-alikes and data-quality quirks, for demos, tests and benchmarks.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as out:
...     summary = simulate(out, counties=1, enterprises=20, days=2, seed=1)
>>> summary.enterprises, summary.days
(20, 2)

Files and labels are described in docs/simulator.md.
"""

from ingest.simulator.province import DEFAULT_START, SimulationSummary, simulate

__all__ = ["DEFAULT_START", "SimulationSummary", "simulate"]
