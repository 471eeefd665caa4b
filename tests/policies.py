"""SmolVLA settings shared by tests and benches: LIBERO features on a locally built VLM."""

from pathlib import Path

import torch
from lerobot.configs.types import FeatureType, PolicyFeature


def libero_policy_features(image: int = 64) -> dict:
    """input/output features of a LIBERO policy with two square cameras of `image` pixels."""
    camera = PolicyFeature(FeatureType.VISUAL, (3, image, image))
    return {
        "input_features": {
            "observation.images.image": camera,
            "observation.images.image2": camera,
            "observation.state": PolicyFeature(FeatureType.STATE, (8,)),
        },
        "output_features": {"action": PolicyFeature(FeatureType.ACTION, (7,))},
    }


def smolvla_kwargs(vlm_dir: Path, chunk: int = 4, image: int = 64, layers: int = 4) -> dict:
    """SmolVLAConfig keyword arguments for a CPU policy on the VLM in `vlm_dir`."""
    return {
        "vlm_model_name": str(vlm_dir),
        "resize_imgs_with_padding": (image, image),
        "chunk_size": chunk,
        "n_action_steps": chunk,
        "num_vlm_layers": layers,
        "device": "cpu",
        **libero_policy_features(image),
    }


# smolvla_world settings sized for the tiny models (D = 64 from the tiny V-JEPA 2, small Prophet).
TINY_WORLD = {
    "world_encoder": "vjepa2-tiny",
    "world_dim": 64,
    "world_k": 3,
    "world_prophet_width": 16,
    "world_prophet_heads": 2,
    "world_fusion_heads": 4,
    "world_prefix_num_heads": 4,
}


def save_checkpoint(policy, stats: dict[str, dict[str, torch.Tensor]], directory: Path) -> Path:
    """Save a policy with SmolVLA processors normalising by `stats`, as lerobot-train saves a checkpoint."""
    from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors

    pre, post = make_smolvla_pre_post_processors(policy.config, stats)
    for thing in (policy, pre, post):
        thing.save_pretrained(directory)
    return directory


def libero_batch(
    b: int, image: int = 64, tokens: int = 7, chunk: int | None = None, seed: int | None = 0
) -> dict[str, torch.Tensor]:
    """A random batch of what a LIBERO policy sees (processed: tokens, not text); with `chunk`, also the
    action chunk a training batch carries. `seed=None` draws from torch's global generator."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    batch = {
        "observation.images.image": torch.rand(b, 3, image, image, generator=g),
        "observation.images.image2": torch.rand(b, 3, image, image, generator=g),
        "observation.state": torch.randn(b, 8, generator=g),
    }
    if chunk is not None:
        batch["action"] = torch.randn(b, chunk, 7, generator=g)
    batch["observation.language.tokens"] = torch.randint(5, 100, (b, tokens), generator=g)
    batch["observation.language.attention_mask"] = torch.ones(b, tokens, dtype=torch.bool)
    return batch


def tiny_world_train_args(dataset: Path, vlm: Path, cache: Path, encoder: Path) -> list[str]:
    """lerobot-train flags of a tiny CPU smolvla_world run on the synthetic dataset at `dataset`; callers
    add the run's length, checkpointing and output."""
    world = {**TINY_WORLD, "world_latents_path": cache, "world_encoder_path": encoder}
    return [
        "--dataset.repo_id=test/synthetic",
        f"--dataset.root={dataset}",
        "--policy.type=smolvla_world",
        f"--policy.vlm_model_name={vlm}",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        "--policy.resize_imgs_with_padding=[64,64]",
        "--policy.chunk_size=4",
        "--policy.n_action_steps=4",
        *(f"--policy.{k}={v}" for k, v in world.items()),
        "--batch_size=2",
        "--num_workers=0",
        "--wandb.enable=false",
    ]


def tiny_eval_args(
    checkpoint: Path, result: Path, *extra: str, episodes: int, length: int, seed: int, batch: int = 1
) -> list[str]:
    """lerobot-wm-eval flags of a CPU evaluation of `checkpoint` on libero_spatial task 0 at 64 px."""
    return [
        f"--policy.path={checkpoint}",
        "--policy.device=cpu",
        "--env.type=libero",
        "--env.task=libero_spatial",
        "--env.task_ids=[0]",
        "--env.observation_height=64",
        "--env.observation_width=64",
        f"--env.episode_length={length}",
        f"--eval.n_episodes={episodes}",
        f"--eval.batch_size={batch}",
        f"--seed={seed}",
        f"--result={result}",
        *extra,
    ]
