"""`smolvla_world`: SmolVLA's config plus the world branch (flag names fixed by DESIGN.md §4)."""

from dataclasses import dataclass

from lerobot.configs import PreTrainedConfig
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

from wmvla.world.settings import default_rollout_mode, world_settings_problem


@PreTrainedConfig.register_subclass("smolvla_world")
@dataclass
class SmolVLAWorldConfig(SmolVLAConfig):
    # World latents (a cache built by `wmvla latents build`; read by the batch's `index`).
    world_latents_path: str | None = None  # cache directory; required for training
    world_encoder: str = "vjepa2-vitg"  # registered encoder name; the cache must match
    # Directory the online (rollout) encoder loads from: a tiny model built by the DAG or the Hub snapshot
    # in the study's offline cache. None: the registry's Hub id (network or the user's own HF cache).
    world_encoder_path: str | None = None
    world_temporal_window: int = 4  # frames per clip (m); the cache must match
    world_camera: str = "observation.images.image"
    world_dim: int = 1408  # D (vitg 1408, vitl 1024)
    world_t_ctx: int = 4  # history length T_ctx
    world_k: int = 8  # predicted future steps K

    # Prophet (action-independent future predictor).
    world_prophet_width: int = 512
    world_prophet_layers: int = 2
    world_prophet_heads: int = 8
    world_prophet_dropout: float = 0.1
    world_predict_delta: bool = True  # ẑ_abs = z_t + Δ; the loss compares changes
    lambda_world: float = 0.2  # loss_total = action_loss + lambda_world · world_loss

    # Fusion points; every gate is tanh(g) with g starting at its *_gate_init.
    world_gate_init: float = 0.0
    world_fusion_heads: int = 8
    enable_world_injection: bool = True  # F1: late, before action_out_proj, every denoising step
    world_inject_suffix_in: bool = False  # F2: into the suffix input embeddings
    world_prefix_tokens: int = 0  # F3a: number of world tokens added to the prefix (0 = off)
    world_prefix_block: str = "prefix"  # F3a: join the image/language block, or behave like state
    world_prefix_gate_init: float = 0.0  # F3a and F3b gates
    world_prefix_cross_attn: bool = False  # F3b: prefix embeddings attend to the memory
    world_prefix_num_heads: int = 8

    # Imagination bank.
    world_num_hypotheses: int = 1  # N; 1 = plain E2
    world_hypothesis_method: str = "dropout"
    world_hypothesis_noise_std: float = 0.1  # for the "noise" method
    world_best_of_n: bool = False  # world loss = min over hypotheses (soft-min if temperature > 0)
    world_best_of_n_temperature: float = 0.0

    # Memory modes (wmvla.world.memory). At rollout, None means as trained (wmvla.world.settings'
    # default_rollout_mode). What every value must satisfy: wmvla.world.settings, checked at DAG time too.
    world_memory_mode_train: str = "pred"
    world_memory_mode_rollout: str | None = None

    # Metrics: computed on every world_log_freq-th training step (set it to lerobot-train's
    # --log_freq), returned to LeRobot's logging and appended to world_metrics_file if set.
    world_log_freq: int = 200
    world_metrics_file: str | None = None

    # Initialise SmolVLA weights and processors from a pretrained `smolvla` checkpoint.
    init_from_policy_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.world_memory_mode_rollout is None:
            self.world_memory_mode_rollout = default_rollout_mode(self.world_memory_mode_train)
        if problem := world_settings_problem(vars(self)):
            raise ValueError(problem)
