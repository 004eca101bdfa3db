"""Where the simulated province lies: real administrative division codes (行政区划代码).

The counties belong to Shandong (37) and to at most three of its cities: Zaozhuang (3704),
Jining (3708) and Linyi (3713). They are listed so that the first few already span two
cities, which lets a small default run show a city's view over several counties.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVINCE_CODE = "37"
PROVINCE_NAME = "山东省"
CITY_NAMES = {"3704": "枣庄市", "3708": "济宁市", "3713": "临沂市"}


@dataclass(frozen=True, slots=True)
class County:
    """One county-level division; ``short`` is its name without 市/区/县, for firm names."""

    code: str
    name: str
    short: str

    @property
    def city_code(self) -> str:
        return self.code[:4]

    @property
    def city_name(self) -> str:
        return CITY_NAMES[self.city_code]


_COUNTIES = (
    ("370481", "滕州市"),
    ("370883", "邹城市"),
    ("370403", "薛城区"),
    ("370881", "曲阜市"),
    ("371321", "沂南县"),
    ("370404", "峄城区"),
    ("370811", "任城区"),
    ("371302", "兰山区"),
    ("370405", "台儿庄区"),
    ("370812", "兖州区"),
    ("371311", "罗庄区"),
    ("370406", "山亭区"),
    ("370826", "微山县"),
    ("371312", "河东区"),
    ("370827", "鱼台县"),
    ("371322", "郯城县"),
    ("370828", "金乡县"),
    ("371323", "沂水县"),
    ("370829", "嘉祥县"),
    ("371324", "兰陵县"),
    ("370830", "汶上县"),
    ("371325", "费县"),
    ("370831", "泗水县"),
    ("371326", "平邑县"),
    ("370832", "梁山县"),
    ("371327", "莒南县"),
    ("371328", "蒙阴县"),
    ("371329", "临沭县"),
)
COUNTIES: tuple[County, ...] = tuple(
    County(code, name, name[:-1] if len(name) > 2 else name) for code, name in _COUNTIES
)
MAX_COUNTIES = len(COUNTIES)


def pick_counties(n: int) -> tuple[County, ...]:
    """The first ``n`` counties (1..MAX_COUNTIES) of the simulated province."""
    if not 1 <= n <= MAX_COUNTIES:
        raise ValueError(f"counties must be between 1 and {MAX_COUNTIES}, got {n}")
    return COUNTIES[:n]
