"""Training: `lerobot-wm-train`, the resumable run directory, and a config resolved as lerobot-train does."""
