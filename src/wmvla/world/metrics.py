"""Training metrics of the world branch: gathered as tensors, moved to the host once, written as JSON lines.

Why: LeRobot keeps only plain int/float values from the dict `forward` returns, and one `.item()` per
metric per step would stall the GPU dozens of times a step. Metrics are therefore collected as 0-d
tensors only on logging steps and converted with a single stack-and-`.tolist()`.
"""

import json
import math
from pathlib import Path

import torch


class MetricBatch:
    """Name → 0-d tensor, converted to floats in one device→host transfer."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._values: list[torch.Tensor] = []

    def add(self, name: str, value: torch.Tensor) -> None:
        self._names.append(name)
        self._values.append(value.detach().float().reshape(()))

    def to_floats(self) -> dict[str, float]:
        if not self._values:
            return {}
        device = self._values[0].device
        values = torch.stack([v.to(device) for v in self._values]).tolist()
        return dict(zip(self._names, values, strict=True))


class MetricsLog:
    """Appends one JSON object per logging step to `metrics.jsonl` (created with its directory)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def write(self, record: dict[str, float | int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")
