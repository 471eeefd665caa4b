"""Models the DAG builds itself (tiny random-weight stand-ins for offline runs)."""
