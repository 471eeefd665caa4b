"""`smolvla_world`: SmolVLA whose action expert can read predicted future world latents.

SmolVLA's own computation is reused unchanged; the world branch enters at four fusion points
(DESIGN.md §4), each a gated cross-attention on the memory of the current call:
  F1  late: the action expert's output before `action_out_proj` (a forward pre-hook; every
      denoising step sees it, since every step calls `action_out_proj`)
  F2  suffix input: the output of `action_time_mlp_out`, i.e. the suffix embeddings (forward hook)
  F3a K world tokens inserted into the prefix between language and state (`embed_prefix`)
  F3b prefix embeddings attend to the memory (`embed_prefix`)
The memory is set for the duration of one `forward`/`sample_actions` by `WorldFlowMatching.world_memory`.
"""

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import torch
from lerobot.policies.pretrained import PreTrainedPolicy
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy, VLAFlowMatching
from lerobot.utils.constants import OBS_STATE
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from wmvla.latents.cache import CacheRequest, read_meta
from wmvla.latents.reader import WorldLatents
from wmvla.world.fusion import GatedCrossAttention
from wmvla.world.imagination import ImaginationBank
from wmvla.world.loss import combine_hypotheses, hypothesis_losses, world_loss
from wmvla.world.memory import build_memory, reads_scene
from wmvla.world.metrics import MetricBatch, MetricsLog
from wmvla.world.prefix_tokens import PrefixWorldTokens
from wmvla.world.prophet import ProphetConfig
from wmvla.world.settings import TRAIN_MODES

from .configuration_smolvla_world import SmolVLAWorldConfig

log = logging.getLogger(__name__)

# True while `from_pretrained` builds a policy whose saved weights are loaded right after __init__.
_LOADING_SAVED_WEIGHTS: ContextVar[bool] = ContextVar("loading_saved_weights", default=False)


class WorldBranch(nn.Module):
    """The Prophet (as an imagination bank of N hypotheses) and one module per enabled fusion point."""

    def __init__(self, config: SmolVLAWorldConfig, expert_dim: int, prefix_dim: int) -> None:
        super().__init__()
        c, d = config, config.world_dim
        prophet = ProphetConfig(
            dim=d,
            t_ctx=c.world_t_ctx,
            k=c.world_k,
            width=c.world_prophet_width,
            layers=c.world_prophet_layers,
            heads=c.world_prophet_heads,
            dropout=c.world_prophet_dropout,
            predict_delta=c.world_predict_delta,
        )
        self.bank = ImaginationBank(
            prophet, c.world_num_hypotheses, c.world_hypothesis_method, c.world_hypothesis_noise_std
        )

        def gated(dim: int, heads: int, gate: float, on: bool) -> GatedCrossAttention | None:
            return GatedCrossAttention(dim, d, heads, gate) if on else None

        self.late = gated(expert_dim, c.world_fusion_heads, c.world_gate_init, c.enable_world_injection)
        self.suffix_in = gated(expert_dim, c.world_fusion_heads, c.world_gate_init, c.world_inject_suffix_in)
        self.prefix_cross = gated(
            prefix_dim, c.world_prefix_num_heads, c.world_prefix_gate_init, c.world_prefix_cross_attn
        )
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # training steps, saved for resume
        # The capacity control's memory (E1, mode `learned`): the shape of the Prophet's, the same for every
        # sample, so the branch uses all its parameters while reading nothing of the scene.
        learned = c.world_memory_mode_train == "learned"
        self.memory_tokens = (
            nn.Parameter(torch.randn(c.world_num_hypotheses * c.world_k, d)) if learned else None
        )
        self.prefix_tokens = (
            PrefixWorldTokens(
                c.world_prefix_tokens, d, prefix_dim, c.world_prefix_num_heads, c.world_prefix_gate_init
            )
            if c.world_prefix_tokens
            else None
        )

    def gates(self) -> dict[str, Tensor]:
        """Metric name → the gate parameter g of each enabled fusion point."""
        named = {
            "world_gate": self.late,
            "world_gate_suffix_in": self.suffix_in,
            "world_gate_prefix": self.prefix_tokens,
            "world_gate_prefix_cross": self.prefix_cross,
        }
        return {name: module.gate for name, module in named.items() if module is not None}

    def fusions(self) -> list[nn.Module]:
        return [
            m for m in (self.late, self.suffix_in, self.prefix_cross, self.prefix_tokens) if m is not None
        ]


class WorldFlowMatching(VLAFlowMatching):
    """SmolVLA's flow-matching core with the world fusion points attached."""

    def __init__(self, config: SmolVLAWorldConfig, rtc_processor=None) -> None:
        super().__init__(config, rtc_processor=rtc_processor)
        expert_dim = self.vlm_with_expert.expert_hidden_size
        prefix_dim = self.vlm_with_expert.config.text_config.hidden_size
        self.world = WorldBranch(config, expert_dim, prefix_dim)
        self._memory: tuple[Tensor, Tensor] | None = None
        self._stats = False
        if self.world.late is not None:
            self.action_out_proj.register_forward_pre_hook(self._inject_late)
        if self.world.suffix_in is not None:
            self.action_time_mlp_out.register_forward_hook(self._inject_suffix_in)

    @contextmanager
    def world_memory(self, mem: Tensor, mem_mask: Tensor, stats: bool = False) -> Iterator[None]:
        """Make `mem` (B, M, D) the world memory of every fusion point inside the block."""
        self._memory, self._stats = (mem, mem_mask), stats
        try:
            yield
        finally:
            self._memory, self._stats = None, False

    def _current_memory(self) -> tuple[Tensor, Tensor]:
        if self._memory is None:
            raise RuntimeError("world memory is not set; call the model inside `world_memory(...)`")
        return self._memory

    def _inject_late(self, module: nn.Module, args: tuple[Tensor]) -> tuple[Tensor]:
        mem, mask = self._current_memory()
        return (self.world.late(args[0], mem, mask, self._stats),)  # (B, chunk, expert_dim)

    def _inject_suffix_in(self, module: nn.Module, args: tuple[Tensor], output: Tensor) -> Tensor:
        mem, mask = self._current_memory()
        return self.world.suffix_in(output, mem, mask, self._stats)

    def embed_prefix(self, images, img_masks, lang_tokens, lang_masks, state=None):
        embs, pad_masks, att_masks = super().embed_prefix(
            images, img_masks, lang_tokens, lang_masks, state=state
        )
        if self.world.prefix_cross is None and self.world.prefix_tokens is None:
            return embs, pad_masks, att_masks
        mem, mask = self._current_memory()
        if self.world.prefix_cross is not None:  # F3b: same tokens, shaped by the memory
            embs = self.world.prefix_cross(embs, mem, mask, self._stats)
        if self.world.prefix_tokens is not None:  # F3a: K more tokens, nothing overwritten
            tokens = self.world.prefix_tokens(mem, mask, self._stats).to(embs.dtype)  # (B, K, dim)
            k, at = tokens.shape[1], embs.shape[1] - 1  # the state token is last (no prefix padding)
            world_att = torch.zeros(embs.shape[0], k, dtype=att_masks.dtype, device=att_masks.device)
            if self.config.world_prefix_block == "state":
                world_att[:, 0] = True  # a block of its own: image/language cannot attend to it
            world_pad = torch.ones(embs.shape[0], k, dtype=pad_masks.dtype, device=pad_masks.device)
            embs = torch.cat([embs[:, :at], tokens, embs[:, at:]], dim=1)
            pad_masks = torch.cat([pad_masks[:, :at], world_pad, pad_masks[:, at:]], dim=1)
            att_masks = torch.cat([att_masks[:, :at], world_att, att_masks[:, at:]], dim=1)
        return embs, pad_masks, att_masks


class SmolVLAWorldPolicy(SmolVLAPolicy):
    """LeRobot policy wrapper: unpacks the batch, builds the world memory, adds the world loss."""

    config_class = SmolVLAWorldConfig
    name = "smolvla_world"

    def __init__(self, config: SmolVLAWorldConfig, dataset_meta=None, **kwargs) -> None:
        PreTrainedPolicy.__init__(self, config)
        config.validate_features()
        self.config = config
        self.init_rtc_processor()
        self.model = WorldFlowMatching(config, rtc_processor=self.rtc_processor)
        # The dataset it trains on: the latent cache must have been built from exactly it (rows by position).
        self._dataset_repo_id = getattr(dataset_meta, "repo_id", None)
        self._dataset_root = getattr(dataset_meta, "root", None)
        self._latents = None  # WorldLatents, opened on the first training batch
        self._online = None  # OnlineWorldEncoder, built on the first rollout step
        self._step: int | None = None  # host mirror of model.world.step (no sync per step)
        self._lr: float | None = None  # learning rate of the last optimizer step over our parameters
        self._capture_grads = False
        self._grad_sq: dict[str, Tensor] = {}
        self._metrics_log = MetricsLog(config.world_metrics_file) if config.world_metrics_file else None
        self._register_grad_hooks()
        if config.init_from_policy_path and not _LOADING_SAVED_WEIGHTS.get():
            load_smolvla_weights(self, config.init_from_policy_path)
        self.reset()

    @classmethod
    def from_pretrained(cls, pretrained_name_or_path, **kwargs):
        """Load a saved checkpoint without first loading its `init_from_policy_path` weights.

        Why: every weight of the checkpoint overwrites them anyway, and at evaluation time (or on a cluster
        node without the Hub) the init checkpoint may not even be reachable.
        """
        token = _LOADING_SAVED_WEIGHTS.set(True)
        try:
            return super().from_pretrained(pretrained_name_or_path, **kwargs)
        finally:
            _LOADING_SAVED_WEIGHTS.reset(token)

    def _register_grad_hooks(self) -> None:
        """On the step before a logging step, accumulate squared grad norms of the world modules."""
        world = self.model.world
        tokens = [world.memory_tokens] if world.memory_tokens is not None else []
        groups = {
            "grad_prophet": list(world.bank.parameters()),
            "grad_world_inject": [*nn.ModuleList(world.fusions()).parameters(), *tokens],
        }
        for name, params in groups.items():
            for param in params:
                param.register_post_accumulate_grad_hook(lambda p, name=name: self._accumulate_grad(name, p))

    def _record_lr(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        """Optimizer hook: the policy never sees LeRobot's optimizer, only its steps over our weights."""
        first = next(self.model.world.bank.parameters())
        if any(p is first for group in optimizer.param_groups for p in group["params"]):
            self._lr = float(optimizer.param_groups[0]["lr"])

    def _accumulate_grad(self, name: str, param: Tensor) -> None:
        if self._capture_grads and param.grad is not None:
            sq = param.grad.detach().float().pow(2).sum()
            self._grad_sq[name] = self._grad_sq[name] + sq if name in self._grad_sq else sq

    def read_dataset(self, repo_id: str, root: Path) -> None:
        """The dataset whose frames the batches come from (what LeRobot's `dataset_meta` says in training),
        for a caller that loaded a saved policy: its latent cache is then checked against exactly it."""
        self._dataset_repo_id, self._dataset_root, self._latents = repo_id, Path(root), None

    def reset(self) -> None:
        super().reset()
        if self._online is not None:
            self._online.reset()

    # --- training ----------------------------------------------------------------------------------

    def _training_windows(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if "index" not in batch:
            raise KeyError("smolvla_world reads world latents by the batch's `index`, which is missing")
        if self._latents is None:
            if not self.config.world_latents_path:
                raise ValueError("policy.world_latents_path is not set: point it at a latent cache")
            cache = Path(self.config.world_latents_path)
            repo_id = self._dataset_repo_id or read_meta(cache)["dataset"]["repo_id"]
            request = CacheRequest(
                repo_id,
                self.config.world_encoder,
                self.config.world_temporal_window,
                self.config.world_camera,
            )
            self._latents = WorldLatents(
                cache, request, self.config.world_t_ctx, self.config.world_k, dataset_root=self._dataset_root
            )
            if self._latents.dim != self.config.world_dim:
                raise ValueError(
                    f"latent cache has D={self._latents.dim}, policy.world_dim={self.config.world_dim}"
                )
        device = batch["index"].device
        return {k: v.to(device, non_blocking=True) for k, v in self._latents.windows(batch["index"]).items()}

    def _advance_step(self) -> bool:
        """Count a training step; True on logging steps (the same steps lerobot-train logs)."""
        if self._step is None:
            self._step = int(self.model.world.step)  # one sync, on the first step only
            record = weakref.WeakMethod(self._record_lr)  # the global hook must not keep us alive
            register_optimizer_step_post_hook(
                lambda opt, args, kwargs: (r := record()) is not None and r(opt, args, kwargs)
            )
        self._step += 1
        self.model.world.step.fill_(self._step)
        freq = self.config.world_log_freq
        self._capture_grads = (self._step + 1) % freq == 0  # for the next step's report
        return self._step % freq == 0

    def _training_memory(self, batch: dict[str, Tensor], mode: str, generator=None, donors=None):
        """Latent windows of the batch, the Prophet's predictions and the memory of `mode` (`donors`: dataset
        indices whose predictions a `shuffle` memory takes, one per sample)."""
        w = self._training_windows(batch)
        z_pred = self.model.world.bank(w["z_hist"], w["hist_mask"])  # (B, N, K, D)
        tokens = self.model.world.memory_tokens
        donated = None
        if donors is not None:
            d = self._training_windows({"index": donors.to(batch["index"].device)})
            donated = self.model.world.bank(d["z_hist"], d["hist_mask"])
        mem, mem_mask = build_memory(
            mode, z_pred, w["z_future"], w["future_mask"], generator, tokens, donated
        )
        return w, z_pred, mem, mem_mask

    def _world_losses(self, w: dict[str, Tensor], z_pred: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Per-hypothesis world losses and mean cosines (B, N), and which samples have any future (B,)."""
        per_hypothesis, cos = hypothesis_losses(
            z_pred, w["z_future"], w["z_hist"][:, -1], w["future_mask"], self.config.world_predict_delta
        )
        return per_hypothesis, cos, w["future_mask"].any(dim=1)

    def forward(self, batch: dict[str, Tensor], noise=None, time=None, reduction: str = "mean"):
        c = self.config
        logging_step = self._advance_step() if self.training else False
        w, z_pred, mem, mem_mask = self._training_memory(batch, c.world_memory_mode_train)
        with self.model.world_memory(mem, mem_mask, stats=logging_step):
            action_loss, loss_dict = super().forward(batch, noise=noise, time=time, reduction=reduction)
        per_hypothesis, cos, valid = self._world_losses(w, z_pred)
        w_loss = world_loss(per_hypothesis, valid, c.world_best_of_n, c.world_best_of_n_temperature)
        loss = action_loss + c.lambda_world * w_loss
        if reduction == "none":  # per-sample losses, e.g. for LeRobot's sample weighting
            per_sample = combine_hypotheses(per_hypothesis, c.world_best_of_n, c.world_best_of_n_temperature)
            loss = action_loss + c.lambda_world * per_sample * valid
        if logging_step:
            metrics = self._metrics(loss.mean(), w_loss, cos, valid, w, mem)
            loss_dict.update(metrics)
            if self._metrics_log is not None:
                samples = self._step * batch["index"].shape[0]
                self._metrics_log.write({"step": self._step, "samples": samples, **metrics})
        return loss, loss_dict

    def memory_modes(self) -> tuple[str, ...]:
        """The memory modes this policy can be run with (learned tokens only if it was trained with them)."""
        learned = self.model.world.memory_tokens is not None
        return tuple(m for m in TRAIN_MODES if m != "learned" or learned)

    @torch.no_grad()
    def offline_losses(
        self, batch: dict[str, Tensor], mode: str, noise: Tensor, time: Tensor, generator=None, donors=None
    ) -> dict[str, Tensor]:
        """Per-sample losses of one batch with the memory of `mode` (the offline check; DESIGN.md §5).

        `noise` and `time` are given so that every mode sees the same flow-matching draw: differences
        between modes are then the memory's doing, not the sampler's. `donors` (B,): the dataset indices
        whose predictions a `shuffle` memory takes. Returns (B,) tensors: `action_loss`, and
        `world_loss`/`world_cos` (NaN where a sample has no future in its episode).
        """
        w, z_pred, mem, mem_mask = self._training_memory(batch, mode, generator, donors)
        with self.model.world_memory(mem, mem_mask):
            action_loss, _ = SmolVLAPolicy.forward(self, batch, noise=noise, time=time, reduction="none")
        per_hypothesis, cos, valid = self._world_losses(w, z_pred)
        c = self.config
        per_sample = combine_hypotheses(per_hypothesis, c.world_best_of_n, c.world_best_of_n_temperature)
        nan = torch.full_like(per_sample, float("nan"))
        return {
            "action_loss": action_loss,
            "world_loss": torch.where(valid, per_sample, nan),
            "world_cos": torch.where(valid, cos.mean(dim=1), nan),
        }

    def _metrics(self, loss, w_loss, cos, valid, w, mem) -> dict[str, float]:
        """Every world metric of DESIGN.md §4 that this step can compute, with one host transfer."""
        m = MetricBatch()
        m.add("loss_total", loss)
        m.add("world_loss", w_loss)
        m.add("world_cos", (cos.mean(dim=1) * valid).sum() / valid.sum().clamp_min(1))
        m.add("world_valid_frac", w["future_mask"].float().mean())
        for name, gate in self.model.world.gates().items():
            m.add(name, torch.tanh(gate))
        m.add("world_mem_norm", mem.float().norm(dim=-1).mean())
        hist = w["hist_mask"].float()
        m.add("world_z_hist_norm", (w["z_hist"].norm(dim=-1) * hist).sum() / hist.sum().clamp_min(1))
        fut = w["future_mask"].float()
        m.add("world_z_future_norm", (w["z_future"].norm(dim=-1) * fut).sum() / fut.sum().clamp_min(1))
        stats = self.model.world.fusions()[0].last_stats  # F1 if enabled, else the first fusion point
        if stats is not None:
            m.add("world_attn_entropy", stats.entropy)
            m.add("world_attn_pmax", stats.pmax)
            m.add("world_ctx_norm", stats.ctx_norm)
            m.add("world_act_norm", stats.x_norm)
            m.add("world_mem_nonfinite", stats.nonfinite)
            n = self.config.world_num_hypotheses
            if n > 1 and stats.slot_mass.numel() == n * self.config.world_k:
                for i, mass in enumerate(stats.slot_mass.view(n, -1).sum(dim=1)):
                    m.add(f"world_attn_hyp{i}", mass)
        for name, sq in self._grad_sq.items():  # grads of the previous step
            m.add(name, sq.sqrt())
        self._grad_sq = {}
        values = m.to_floats()
        if self._lr is not None:
            values["lr"] = self._lr  # of the previous optimizer step
        return values

    # --- rollout -----------------------------------------------------------------------------------

    def _observe(self, batch: dict[str, Tensor]) -> None:
        """Feed this step's frame of the world camera to the online encoder. A step whose observation nothing
        reads may come without it (a rollout rendering only what is read): the encoder's clock still moves. A
        memory that reads nothing of the scene (`learned`, `zero`) needs no frame and no encoder at all."""
        if not reads_scene(self.config.world_memory_mode_rollout):
            return
        from wmvla.latents.online import OnlineWorldEncoder

        c, frames = self.config, batch.get(self.config.world_camera)  # (B, 3, H, W) in [0, 1]
        if frames is None:
            if self._online is None:
                raise ValueError(f"the first observation of an episode lacks {c.world_camera}")
            self._online.skip()
            return
        if self._online is None or self._online.n_envs != frames.shape[0]:
            self._online = OnlineWorldEncoder.load(
                c.world_encoder, c.world_encoder_path, frames.device, c.world_dim, c.world_temporal_window,
                c.world_t_ctx, frames.shape[0],
            )  # fmt: skip
        uint8 = (frames * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu()
        self._online.observe(uint8)

    def _rollout_memory(self, batch_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
        c, mode = self.config, self.config.world_memory_mode_rollout
        if reads_scene(mode):
            z_hist, hist_mask = self._online.history()
            z_pred = self.model.world.bank(z_hist.to(device), hist_mask.to(device))
        else:  # the memory's shape is all it takes of the predictions
            z_pred = torch.zeros(batch_size, c.world_num_hypotheses, c.world_k, c.world_dim, device=device)
        return build_memory(mode, z_pred, tokens=self.model.world.memory_tokens)

    def _get_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None, **kwargs) -> Tensor:
        state = batch[OBS_STATE]
        mem, mem_mask = self._rollout_memory(state.shape[0], state.device)
        with self.model.world_memory(mem, mem_mask):
            return super()._get_action_chunk(batch, noise, **kwargs)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], noise: Tensor | None = None, **kwargs) -> Tensor:
        self._observe(batch)
        return super().select_action(batch, noise, **kwargs)

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None, **kwargs) -> Tensor:
        self._observe(batch)
        return super().predict_action_chunk(batch, noise, **kwargs)


def load_smolvla_weights(policy: SmolVLAWorldPolicy, path: str) -> None:
    """Initialise every SmolVLA weight from a `smolvla` checkpoint; only the world branch stays new."""
    from safetensors.torch import load_file

    local = Path(path)
    if local.is_dir():
        weights = local / "model.safetensors"
    else:
        from huggingface_hub import hf_hub_download

        weights = Path(hf_hub_download(path, "model.safetensors"))
    state = load_file(str(weights))
    result = policy.load_state_dict(state, strict=False)
    foreign = [k for k in result.missing_keys if not k.startswith("model.world.")]
    if result.unexpected_keys or foreign:
        raise ValueError(
            f"{path} is not a compatible smolvla checkpoint: unexpected {result.unexpected_keys[:5]}, "
            f"missing {foreign[:5]}"
        )
    log.info("initialised SmolVLA weights from %s (%d tensors)", path, len(state))
