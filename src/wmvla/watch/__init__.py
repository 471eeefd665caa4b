"""Watching a study while it runs: where every run stands (`status`) and when the study should end (`eta`),
read off the files its jobs write — above the study, gates and training packages whose files it reads."""
