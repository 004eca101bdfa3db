"""State and rules: vectorized per-entity baselines and the rules over them."""
