"""The LIBERO simulator: offline set-up, task envs as the evaluation builds them, versions, scene checks."""
