"""Alerts: model, lifecycle, dedup, store, exemptions, escalation and the feed."""
