"""Evaluation in the LIBERO simulator and the result files it writes."""
