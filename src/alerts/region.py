"""Regions as administrative division code prefixes (属地管理).

A county code has 6 digits; its first 4 name the city and its first 2 the province, so a
region is a 2-, 4- or 6-digit prefix and "inside" is a prefix test.

>>> region_contains("3704", "370481")
True
>>> region_contains("3705", "370481")
False
"""

from __future__ import annotations

REGION_LENGTHS = (2, 4, 6)


def check_region(code: str) -> str:
    """Return ``code`` if it is a province, city or county code; else raise ValueError."""
    if not (isinstance(code, str) and code.isascii() and code.isdigit()):
        raise ValueError(
            f"region {code!r} is not a division code; give 2 (province), 4 (city) or "
            "6 (county) digits, e.g. 37, 3704 or 370481."
        )
    if len(code) not in REGION_LENGTHS:
        raise ValueError(
            f"region {code!r} has {len(code)} digits; give 2 (province), 4 (city) or "
            "6 (county) digits, e.g. 37, 3704 or 370481."
        )
    return code


def region_contains(region: str, county: str) -> bool:
    """True when ``county`` lies inside ``region`` (a checked 2/4/6-digit prefix)."""
    return county.startswith(check_region(region))
