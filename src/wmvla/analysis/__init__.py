"""Aggregate evaluation results, offline checks and training logs into tables and figures."""
