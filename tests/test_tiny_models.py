"""Tiny models load through the real SmolVLA / transformers classes and are deterministic."""

import hashlib
from pathlib import Path

import torch

from wmvla.models.tiny import build_tiny_cosmos, build_tiny_smolvlm, build_tiny_vjepa2

from .policies import smolvla_kwargs


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()
    }


def _smolvla(vlm_dir: Path):
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    return SmolVLAPolicy(SmolVLAConfig(load_vlm_weights=False, **smolvla_kwargs(vlm_dir)))


def test_smolvla_trains_and_acts_on_the_tiny_vlm(tiny_smolvlm):
    from transformers import AutoProcessor

    torch.manual_seed(0)
    policy = _smolvla(tiny_smolvlm)
    tokenizer = AutoProcessor.from_pretrained(tiny_smolvlm).tokenizer
    # SmolVLA builds its image markers from these named special tokens.
    assert tokenizer.fake_image_token_id != tokenizer.global_image_token_id
    tokens = tokenizer(
        ["pick up the black bowl\n", "open the drawer\n"], padding="longest", return_tensors="pt"
    )
    batch = {
        "observation.images.image": torch.rand(2, 3, 64, 64),
        "observation.images.image2": torch.rand(2, 3, 64, 64),
        "observation.state": torch.randn(2, 8),
        "action": torch.randn(2, 4, 7),
        "observation.language.tokens": tokens["input_ids"],
        "observation.language.attention_mask": tokens["attention_mask"].bool(),
    }
    loss, _ = policy.forward(batch)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in policy.parameters() if p.requires_grad and p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)

    policy.eval()
    action = policy.select_action(batch)
    assert action.shape == (2, 7) and torch.isfinite(action).all()


def test_tiny_vjepa2_encodes_a_clip_through_its_saved_processor(tiny_vjepa2):
    from transformers import AutoVideoProcessor, VJEPA2Model

    processor = AutoVideoProcessor.from_pretrained(tiny_vjepa2)
    model = VJEPA2Model.from_pretrained(tiny_vjepa2).eval()
    clip = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)  # (T, C, H, W)
    inputs = processor(clip, return_tensors="pt")
    assert inputs["pixel_values_videos"].shape == (1, 4, 3, 64, 64)
    with torch.inference_mode():
        tokens = model(**inputs).last_hidden_state
    # (64/16)^2 patches x 4/2 tubelets = 32 tokens of width 64
    assert tokens.shape == (1, 32, 64) and torch.isfinite(tokens).all()


def test_builders_are_deterministic(tmp_path, tiny_smolvlm, tiny_vjepa2, tiny_cosmos):
    assert _digest(build_tiny_smolvlm(tmp_path / "a")) == _digest(tiny_smolvlm)
    assert _digest(build_tiny_vjepa2(tmp_path / "b")) == _digest(tiny_vjepa2)
    assert _digest(build_tiny_cosmos(tmp_path / "c") / "vae") == _digest(tiny_cosmos / "vae")


def test_tiny_cosmos_loads_as_the_hub_tokenizer_does(tiny_cosmos):
    """`AutoencoderKLCosmos.from_pretrained(<repo>, subfolder="vae")`, with the real one's compression."""
    from diffusers import AutoencoderKLCosmos

    model = AutoencoderKLCosmos.from_pretrained(tiny_cosmos, subfolder="vae").eval()
    assert model.config.latent_channels == 16 and model.config.temporal_compression_ratio == 8
    with torch.inference_mode():
        latent = model.encode(torch.rand(1, 3, 9, 64, 64) * 2 - 1).latent_dist.mode()
    assert latent.shape == (1, 16, 2, 8, 8) and torch.isfinite(latent).all()
