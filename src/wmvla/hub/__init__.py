"""Hub artifacts of a study: pinned to commits (lock), fetched once (fetch), used offline (check).

A leaf package: what a study fetches is decided by the study config (`wmvla.study.artifacts`) and passed in.
"""
