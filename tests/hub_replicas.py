"""Replicas of the full study's Hub repositories, for the local Hub server (tests/hub_server.py).

The same repository ids and types as `config/config.yaml` names, the same file names, and JSON contents as
the real ones where they are public: the init checkpoint's `config.json` names its VLM by Hub id and its saved
preprocessor names its tokenizer by another (`HuggingFaceTB/SmolVLM2-500M-Instruct`, as the real
`HuggingFaceVLA/smolvla_libero` does), with chunk 50, `n_action_steps` 1 and the visual features unnormalised;
the dataset is LeRobot v3.0 with its images in parquet; the encoders keep their layouts (Cosmos in `vae/`)
and their D. Everything that sizes a model is tiny, with random weights, so the whole study runs on a CPU.
"""

import json
import shutil
from pathlib import Path

import torch

FULL_STUDY = {  # artifact key → (repository type, Hub id), as config/config.yaml names them
    "dataset": ("dataset", "HuggingFaceVLA/libero"),
    "policy.init": ("model", "HuggingFaceVLA/smolvla_libero"),
    "policy.vlm": ("model", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"),
    "policy.tokenizer": ("model", "HuggingFaceTB/SmolVLM2-500M-Instruct"),
    "encoder.vjepa2-vitg": ("model", "facebook/vjepa2-vitg-fpc64-256"),
    "encoder.cosmos-cv8x8x8": ("model", "nvidia/Cosmos-1.0-Tokenizer-CV8x8x8"),
}
IMAGE = 64  # the replica dataset's cameras, and what the tiny VLM sees


def hub_id(key: str) -> str:
    return FULL_STUDY[key][1]


def vlm(out: Path) -> Path:
    """SmolVLM2-500M-Video-Instruct's layout (config, weights, tokenizer, processor), tiny."""
    from wmvla.models.tiny import build_tiny_smolvlm

    return build_tiny_smolvlm(out)


def tokenizer(vlm_dir: Path, out: Path) -> Path:
    """SmolVLM2-500M-Instruct, the model whose tokenizer the init's preprocessor names: the same tiny
    SmolVLM (the study fetches only its tokenizer files)."""
    return Path(shutil.copytree(vlm_dir, out))


def vjepa2_vitg(out: Path) -> Path:
    """V-JEPA 2 ViT-g's layout and D = 1408 (the registry checks it), one thin layer, a tiny predictor."""
    from wmvla.models.tiny import TinyVJEPA2Spec, build_tiny_vjepa2

    spec = TinyVJEPA2Spec(hidden=1408, layers=1, heads=8, mlp_ratio=0.25, predictor_hidden=32)
    return build_tiny_vjepa2(out, spec)


def cosmos(out: Path, null_statistics: bool = False) -> Path:
    """The Cosmos tokenizer's layout (`vae/`); with `null_statistics`, its config's latents_mean/latents_std
    null, as diffusers' conversion script leaves them without a `mean_std.pt`."""
    from wmvla.models.tiny import build_tiny_cosmos

    build_tiny_cosmos(out)
    if null_statistics:
        config = out / "vae" / "config.json"
        data = json.loads(config.read_text())
        config.write_text(json.dumps({**data, "latents_mean": None, "latents_std": None}, indent=2))
    return out


def init_policy(vlm_dir: Path, out: Path) -> Path:
    """HuggingFaceVLA/smolvla_libero as LeRobot saved it, with its Hub names: `vlm_model_name` the Video-
    Instruct VLM, the preprocessor's `tokenizer_name` SmolVLM2-500M-Instruct; chunk 50, one action per
    inference, images unnormalised (SmolVLA's normalisation map). Sizes follow the tiny VLM."""
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    from .policies import save_checkpoint, smolvla_kwargs

    torch.manual_seed(0)
    config = SmolVLAConfig(**{**smolvla_kwargs(vlm_dir, chunk=50), "n_action_steps": 1, "push_to_hub": False})
    stats = {  # the init's own normalisation (fine-tuning replaces it with the training dataset's)
        "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
        "action": {"mean": torch.zeros(7), "std": torch.ones(7)},
    }
    save_checkpoint(SmolVLAPolicy(config), stats, out)
    _rename(out / "config.json", lambda c: {**c, "vlm_model_name": hub_id("policy.vlm")})

    def tokenizer_by_hub_id(pipeline: dict) -> dict:
        for step in pipeline["steps"]:
            if "tokenizer_name" in step.get("config", {}):
                step["config"]["tokenizer_name"] = hub_id("policy.tokenizer")
        return pipeline

    _rename(out / "policy_preprocessor.json", tokenizer_by_hub_id)
    return out


def _rename(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text())), indent=4))


def dataset(out: Path) -> Path:
    """HuggingFaceVLA/libero's format (LeRobot v3.0, PNG frames in parquet, `task` instructions), recorded in
    LIBERO: four short demonstrations of libero_spatial task 0 (one scene to build: the recording's cost)."""
    from wmvla.data.record_smoke import SmokeSpec, record_smoke_dataset

    spec = SmokeSpec(
        repo_id=hub_id("dataset"), task_ids=(0,), episodes_per_task=4, steps_per_episode=20, image_size=IMAGE
    )
    return record_smoke_dataset(out, spec)


def publish_models(server, root: Path, keys: tuple[str, ...] = tuple(FULL_STUDY)) -> dict[str, str]:
    """Build the model replicas among `keys` under `root` and publish them; artifact key → commit sha."""
    root.mkdir(parents=True, exist_ok=True)
    vlm_dir = vlm(root / "vlm")
    builders = {
        "policy.init": lambda: init_policy(vlm_dir, root / "init"),
        "policy.vlm": lambda: vlm_dir,
        "policy.tokenizer": lambda: tokenizer(vlm_dir, root / "tokenizer"),
        "encoder.vjepa2-vitg": lambda: vjepa2_vitg(root / "vjepa2-vitg"),
        "encoder.cosmos-cv8x8x8": lambda: cosmos(root / "cosmos"),
    }
    shas = {}
    for key in keys:
        if key in builders:
            kind, repo_id = FULL_STUDY[key]
            shas[key] = server.add(kind, repo_id, builders[key]())
    return shas
