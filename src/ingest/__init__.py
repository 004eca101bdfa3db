"""Getting readings in: schema, metric catalogue, sources, validation, normalization,
entity registry, working-day calendar and the province simulator."""
