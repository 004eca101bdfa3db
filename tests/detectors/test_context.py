"""What the registry tells the detectors: here, the station limits."""

from __future__ import annotations

import numpy as np

from detectors.context import NoRegistry, RegistryContext
from ingest.registry import Registry


def test_station_limits_come_from_the_registry_and_are_nan_where_not_given():
    registry = Registry.from_columns(
        ids=["G1", "W1", "E1"],
        name=["调压站", "水电站", "工厂"],
        county=["370481"] * 3,
        industry=["gas_utility", "water_station", "metallurgy"],
        kind=["gas_station", "water_station", "enterprise"],
        pressure_low_kpa=["100", "", ""],
        pressure_high_kpa=["260", "", ""],
        eco_flow_m3s=["", "1.5", ""],
    )
    limits = RegistryContext(registry).limits(["W1", "nobody", "G1", "E1"])
    np.testing.assert_array_equal(limits["eco_flow_m3s"], [1.5, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(limits["pressure_high_kpa"], [np.nan, np.nan, 260.0, np.nan])
    assert np.isnan(limits["warning_level_m"]).all()


def test_without_a_registry_no_station_has_limits():
    limits = NoRegistry().limits(["G1", "W1"])
    assert limits and all(np.isnan(v).all() and v.shape == (2,) for v in limits.values())
