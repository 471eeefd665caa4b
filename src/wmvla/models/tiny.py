"""Tiny, randomly initialised stand-ins for SmolVLM, V-JEPA 2 and the Cosmos tokenizer, written to disk.

Why: no weights can be downloaded on CPU/offline machines, yet the pipeline must run through the
real loading code (`AutoConfig/AutoModel/AutoProcessor.from_pretrained(<dir>)`). These builders write
directories laid out exactly like the Hub repositories, so SmolVLA's `vlm_model_name` and the
encoder registry can point at them (their names: `wmvla.study.tiny_models`). Output is a pure function of
the arguments (fixed seeds), so two builds produce identical files.
"""

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    PreTrainedTokenizerFast,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
    SmolVLMVideoProcessor,
    VJEPA2Config,
    VJEPA2Model,
    VJEPA2VideoProcessor,
)

log = logging.getLogger(__name__)

BUILD_INFO = "wmvla_tiny_model.json"

# SmolVLM's named special tokens; SmolVLA reads `fake_image_token_id` / `global_image_token_id`.
SMOLVLM_SPECIAL_TOKENS = {
    "fake_image_token": "<fake_token_around_image>",
    "image_token": "<image>",
    "global_image_token": "<global-img>",
    "end_of_utterance_token": "<end_of_utterance>",
}
PAD_TOKEN = "<|endoftext|>"

# A small corpus of robot-instruction language the tokenizer's merges are learnt from; the byte-level
# alphabet still encodes any string, so unseen words only cost more tokens.
TOKENIZER_CORPUS = [
    "pick up the black bowl between the plate and the ramekin and place it on the plate",
    "pick up the black bowl next to the cookie box and place it on the plate",
    "pick up the black bowl on the wooden cabinet and place it on the plate",
    "open the middle drawer of the cabinet",
    "put the bowl on the stove",
    "put the wine bottle on top of the cabinet",
    "turn on the stove and put the moka pot on it",
    "put both the alphabet soup and the tomato sauce in the basket",
    "pick up the ketchup and place it in the basket",
    "push the plate to the front of the stove",
    "put the cream cheese in the bowl",
    "0 1 2 3 4 5 6 7 8 9 left right front back top bottom red white yellow",
]


@dataclass(frozen=True)
class TinySmolVLMSpec:
    """Sizes of the tiny SmolVLM (defaults: ~0.4 M parameters, 64 px images, 4 tokens per image)."""

    text_hidden: int = 64
    text_intermediate: int = 256
    text_layers: int = 4
    text_heads: int = 4
    text_kv_heads: int = 2
    vision_hidden: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    image_size: int = 64
    patch_size: int = 16
    scale_factor: int = 2
    vocab_size: int = 512
    seed: int = 0


@dataclass(frozen=True)
class TinyVJEPA2Spec:
    """Sizes of the tiny V-JEPA 2 encoder (hidden 64, 2 layers, 64 px crops, tubelet 2). A replica of a
    published encoder keeps its D (`hidden`) and shrinks the rest (`mlp_ratio`, the predictor's width)."""

    hidden: int = 64
    layers: int = 2
    heads: int = 4
    crop_size: int = 64
    patch_size: int = 16
    tubelet_size: int = 2
    frames_per_clip: int = 4
    mlp_ratio: float = 4.0
    predictor_hidden: int | None = None  # None: `hidden`
    seed: int = 0


@dataclass(frozen=True)
class TinyCosmosSpec:
    """Sizes of the tiny Cosmos tokenizer (16 latent channels and 8× compression as the real one)."""

    encoder_channels: tuple[int, ...] = (4, 8, 8, 8)
    decoder_channels: tuple[int, ...] = (8, 8, 8, 8)
    resolution: int = 64
    num_layers: int = 1
    seed: int = 0


def _seeded_init(model: torch.nn.Module, seed: int, fan_in_scaled: bool = False) -> None:
    """Re-initialise every parameter from one generator so weights depend only on `seed`.

    Weights are normal with std 0.02 (transformers' convention), or 1/sqrt(fan-in) with `fan_in_scaled`,
    which keeps the signal's scale through a deep stack of convolutions.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("bias"):
                param.zero_()
            elif param.ndim == 1:  # norm weights
                param.fill_(1.0)
            else:
                std = param[0].numel() ** -0.5 if fan_in_scaled else 0.02
                param.copy_(torch.randn(param.shape, generator=generator) * std)


def _build_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with SmolVLM's special tokens (deterministic training)."""
    special = [PAD_TOKEN, *SMOLVLM_SPECIAL_TOKENS.values()]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TOKENIZER_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=PAD_TOKEN,
        eos_token=PAD_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=PAD_TOKEN,
        extra_special_tokens=dict(SMOLVLM_SPECIAL_TOKENS),
        model_max_length=512,
    )


def _write_build_info(out_dir: Path, model: str, spec: object) -> None:
    info = {"model": model, "spec": asdict(spec), "weights": "random (seeded)", "builder": __name__}
    (out_dir / BUILD_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def build_tiny_smolvlm(out_dir: Path, spec: TinySmolVLMSpec = TinySmolVLMSpec()) -> Path:
    """Write a tiny SmolVLM (config, weights, tokenizer, processor) loadable as `vlm_model_name`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer(spec.vocab_size)
    image_seq_len = (spec.image_size // spec.patch_size) ** 2 // spec.scale_factor**2
    config = SmolVLMConfig(
        image_token_id=tokenizer.convert_tokens_to_ids(SMOLVLM_SPECIAL_TOKENS["image_token"]),
        scale_factor=spec.scale_factor,
        tie_word_embeddings=False,
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": spec.text_hidden,
            "intermediate_size": spec.text_intermediate,
            "num_hidden_layers": spec.text_layers,
            "num_attention_heads": spec.text_heads,
            "num_key_value_heads": spec.text_kv_heads,
            "head_dim": spec.text_hidden // spec.text_heads,
            "max_position_embeddings": 1024,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": spec.vision_hidden,
            "intermediate_size": spec.vision_hidden * 4,
            "num_hidden_layers": spec.vision_layers,
            "num_attention_heads": spec.vision_heads,
            "image_size": spec.image_size,
            "patch_size": spec.patch_size,
        },
    )
    torch.manual_seed(spec.seed)
    model = SmolVLMForConditionalGeneration(config)
    _seeded_init(model, spec.seed)
    model.save_pretrained(out_dir)

    size = {"longest_edge": spec.image_size}
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size=size, max_image_size=size, do_image_splitting=False),
        tokenizer=tokenizer,
        video_processor=SmolVLMVideoProcessor(size=size, max_image_size=size),
        image_seq_len=image_seq_len,
    )
    processor.save_pretrained(out_dir)
    _write_build_info(out_dir, "smolvlm", spec)
    log.info("wrote tiny SmolVLM (%d params) to %s", model.num_parameters(), out_dir)
    return out_dir


def build_tiny_vjepa2(out_dir: Path, spec: TinyVJEPA2Spec = TinyVJEPA2Spec()) -> Path:
    """Write a tiny V-JEPA 2 encoder (config, weights, video processor) loadable by `VJEPA2Model`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = VJEPA2Config(
        hidden_size=spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        crop_size=spec.crop_size,
        patch_size=spec.patch_size,
        tubelet_size=spec.tubelet_size,
        frames_per_clip=spec.frames_per_clip,
        mlp_ratio=spec.mlp_ratio,
        pred_hidden_size=spec.predictor_hidden or spec.hidden,
        pred_num_attention_heads=spec.heads,
        pred_num_hidden_layers=1,
        num_pooler_layers=1,
    )
    torch.manual_seed(spec.seed)
    model = VJEPA2Model(config)
    _seeded_init(model, spec.seed)
    model.save_pretrained(out_dir)
    VJEPA2VideoProcessor(
        crop_size={"height": spec.crop_size, "width": spec.crop_size},
        size={"shortest_edge": spec.crop_size},
    ).save_pretrained(out_dir)
    _write_build_info(out_dir, "vjepa2", spec)
    log.info("wrote tiny V-JEPA 2 (%d params) to %s", model.num_parameters(), out_dir)
    return out_dir


def build_tiny_cosmos(out_dir: Path, spec: TinyCosmosSpec = TinyCosmosSpec()) -> Path:
    """Write a tiny Cosmos continuous video tokenizer to `<out_dir>/vae`, laid out like the Hub repository
    (`nvidia/Cosmos-1.0-Tokenizer-CV8x8x8`, subfolder `vae`), loadable by `AutoencoderKLCosmos`.

    Weights scale with 1/sqrt(fan-in): with 0.02-normal weights (the other tiny models') or PyTorch's
    default initialisation the signal fades through the tokenizer's convolutions until every frame of a
    smoke episode gets the same latent (consecutive cosine 1.0000), and the latent-cache gate rightly fails.
    """
    from diffusers import AutoencoderKLCosmos

    out_dir = Path(out_dir)
    torch.manual_seed(spec.seed)
    model = AutoencoderKLCosmos(
        encoder_block_out_channels=spec.encoder_channels,
        decode_block_out_channels=spec.decoder_channels,
        attention_resolutions=(),
        resolution=spec.resolution,
        num_layers=spec.num_layers,
    )
    _seeded_init(model, spec.seed, fan_in_scaled=True)
    model.save_pretrained(out_dir / "vae")
    _write_build_info(out_dir, "cosmos", spec)
    log.info(
        "wrote tiny Cosmos tokenizer (%d params) to %s", sum(p.numel() for p in model.parameters()), out_dir
    )
    return out_dir
