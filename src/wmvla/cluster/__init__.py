"""Running on a cluster: one visible GPU per job, torch's ROCm build."""
