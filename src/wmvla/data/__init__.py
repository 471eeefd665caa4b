"""Datasets: LIBERO in LeRobot format, downloaded from the Hub or recorded in the simulator."""
