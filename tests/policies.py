"""SmolVLA settings shared by tests and benches: LIBERO features on a locally built VLM."""

from pathlib import Path

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
