"""Sanity gates before the study spends its GPU budget: one module per gate, `record` for the records."""
