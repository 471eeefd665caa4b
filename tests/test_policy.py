"""The `smolvla_world` policy on tiny models: do-no-harm, gates, NaN safety, F3a tokens, round trip."""

import pytest
import torch
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy, VLAFlowMatching

from lerobot_policy_smolvla_world import SmolVLAWorldConfig, SmolVLAWorldPolicy
from wmvla.latents.cache import CacheRequest, build_cache
from wmvla.latents.encoders import load_encoder

from .datasets import synthetic_dataset
from .policies import TINY_WORLD, libero_batch, smolvla_kwargs

CHUNK = 4
LENGTHS = (6, 5)
REPO_ID = "test/synthetic"


@pytest.fixture(scope="module")
def cache(tmp_path_factory, tiny_vjepa2):
    root = synthetic_dataset(tmp_path_factory.mktemp("ds") / "ds", lengths=LENGTHS, image_size=32)
    encoder = load_encoder("vjepa2-tiny", tiny_vjepa2)
    out = tmp_path_factory.mktemp("cache") / "vjepa2-tiny" / "temporal_window_4"
    return build_cache(root, CacheRequest(REPO_ID, "vjepa2-tiny", 4), encoder, out, 4, 8).path


def _world_config(vlm_dir, cache, **overrides) -> SmolVLAWorldConfig:
    world = {**TINY_WORLD, "world_latents_path": str(cache)}
    return SmolVLAWorldConfig(**smolvla_kwargs(vlm_dir), **{**world, **overrides})


def _batch(b=3, seed=0):
    batch = libero_batch(b, chunk=CHUNK, seed=seed)
    return {**batch, "index": torch.tensor([0, 5, 8])[:b]}  # episode start, episode end, mid-episode


def _pair(vlm_dir, cache, **overrides):
    """A SmolVLA and a smolvla_world policy holding the same SmolVLA weights."""
    torch.manual_seed(0)
    base = SmolVLAPolicy(SmolVLAConfig(**smolvla_kwargs(vlm_dir)))
    world = SmolVLAWorldPolicy(_world_config(vlm_dir, cache, **overrides))
    missing, unexpected = world.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("model.world.") for k in missing)
    return base, world


def _memory(b=3, m=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, m, 64, generator=g), torch.ones(b, m, dtype=torch.bool)


ALL_EXACT_FUSIONS = {
    "enable_world_injection": True,
    "world_inject_suffix_in": True,
    "world_prefix_cross_attn": True,
}


def test_closed_gates_reproduce_smolvla_exactly(tiny_smolvlm, cache):
    """Do no harm: with F1, F2 and F3b on and every gate at 0, losses and actions equal SmolVLA's."""
    base, world = _pair(tiny_smolvlm, cache, **ALL_EXACT_FUSIONS)
    batch = _batch()
    noise = torch.randn(3, CHUNK, 32, generator=torch.Generator().manual_seed(2))
    time = torch.tensor([0.1, 0.5, 0.9])
    _, base_dict = base.forward(dict(batch), noise=noise, time=time)
    _, world_dict = world.forward(dict(batch), noise=noise, time=time)
    assert world_dict["losses_after_forward"] == base_dict["losses_after_forward"]

    base.eval(), world.eval()
    images, masks = base.prepare_images(batch)
    args = (images, masks, batch["observation.language.tokens"], batch["observation.language.attention_mask"])
    state = base.prepare_state(batch)
    expected = base.model.sample_actions(*args, state, noise=noise)
    mem, mem_mask = _memory()
    with world.model.world_memory(mem, mem_mask):
        got = world.model.sample_actions(*args, state, noise=noise)
    assert torch.equal(got, expected)


def test_gates_learn_from_zero_when_memory_is_informative(tiny_smolvlm, cache):
    _, world = _pair(tiny_smolvlm, cache, **ALL_EXACT_FUSIONS)
    loss, _ = world.forward(_batch())
    loss.backward()
    for name, gate in world.model.world.gates().items():
        assert gate.item() == 0.0
        assert gate.grad is not None and gate.grad.abs().item() > 0, name


def _branch_grads(world) -> dict[str, float]:
    """Gradient norm of every parameter of the world branch's fusion (its gate, attention, memory tokens)."""
    branch = world.model.world
    named = {f"late.{n}": p for n, p in branch.late.named_parameters()}
    if branch.memory_tokens is not None:
        named["memory_tokens"] = branch.memory_tokens
    return {n: 0.0 if p.grad is None else p.grad.norm().item() for n, p in named.items()}


def test_the_capacity_control_uses_its_capacity_without_the_scene(tiny_smolvlm, cache, capsys):
    """E1 (learned memory tokens): the gate gets a gradient at step 0, the whole branch once the gate has
    moved, and the gate moves over a few steps — while zero memory leaves the branch inert. Its memory is
    the same for every sample, and its parameter count E2's plus the tokens."""
    results = {}
    for mode in ("zero", "learned", "pred"):
        torch.manual_seed(0)
        world = SmolVLAWorldPolicy(_world_config(tiny_smolvlm, cache, world_memory_mode_train=mode))
        optimizer = torch.optim.AdamW(world.parameters(), lr=1e-3)
        gates, first, later = [], None, None
        for step in range(4):
            optimizer.zero_grad()
            loss, _ = world.forward(_batch(seed=step))
            loss.backward()
            first = first or _branch_grads(world)
            later = _branch_grads(world)
            optimizer.step()
            gates.append(world.model.world.late.gate.item())
        results[mode] = (first, later, gates, sum(p.numel() for p in world.parameters()))

    zero, learned, pred = results["zero"], results["learned"], results["pred"]
    assert all(g == 0.0 for g in zero[0].values()) and zero[2][-1] == 0.0  # inert: it controls nothing
    assert learned[0]["late.gate"] > 0  # step 0: the gate learns (tanh(0) = 0 keeps the rest at 0: no harm)
    assert all(g > 0 for g in learned[1].values()), learned[1]  # gate open: every branch parameter learns
    assert learned[2][-1] != 0.0 and len(set(learned[2])) == len(learned[2])  # the gate moves every step
    extra = learned[3] - pred[3]
    assert extra == world.config.world_num_hypotheses * world.config.world_k * world.config.world_dim
    with capsys.disabled():
        share = f"+{extra / pred[3]:.2%}"
        print(f"\nparameters: E1 (learned memory) {learned[3]:,}, E2 (predicted) {pred[3]:,} ({share})")
    assert extra / pred[3] < 0.03

    torch.manual_seed(0)
    e1 = SmolVLAWorldPolicy(_world_config(tiny_smolvlm, cache, world_memory_mode_train="learned"))
    _, _, mem, _ = e1._training_memory(_batch(), "learned")
    assert torch.equal(mem[0], mem[1]) and torch.equal(mem[0], mem[2])  # nothing of the scene or the sample
    assert e1.config.world_memory_mode_rollout == "learned"  # evaluated as trained
    assert (
        "learned" in e1.memory_modes()
        and "learned" not in SmolVLAWorldPolicy(_world_config(tiny_smolvlm, cache)).memory_modes()
    )


def test_training_refuses_a_cache_of_another_version_of_its_dataset(tiny_smolvlm, cache, tmp_path):
    """Same repo id, same number of frames, other frames: rows would be read misaligned, so it stops, in one
    line naming the cache and the dataset."""
    from types import SimpleNamespace

    from wmvla.latents.cache import LatentCacheError

    other = synthetic_dataset(tmp_path / "other", lengths=LENGTHS, image_size=32, seed=5)
    meta = SimpleNamespace(repo_id=REPO_ID, root=other)
    world = SmolVLAWorldPolicy(_world_config(tiny_smolvlm, cache), dataset_meta=meta)
    with pytest.raises(LatentCacheError, match=rf"{cache} was built from another version .* {other} "):
        world.forward(_batch())


def test_world_loss_is_added_with_lambda(tiny_smolvlm, cache):
    torch.manual_seed(0)
    world = SmolVLAWorldPolicy(_world_config(tiny_smolvlm, cache, lambda_world=0.0))
    batch, noise, time = _batch(), torch.randn(3, CHUNK, 32), torch.tensor([0.2, 0.4, 0.6])
    without, d = world.forward(dict(batch), noise=noise, time=time)
    assert without.item() == pytest.approx(d["loss"])
    world.config.lambda_world = 0.5
    with_world, _ = world.forward(dict(batch), noise=noise, time=time)
    assert with_world.item() > without.item()


def test_nonfinite_memory_never_reaches_the_actions(tiny_smolvlm, cache):
    _, world = _pair(tiny_smolvlm, cache, **ALL_EXACT_FUSIONS)
    for gate in world.model.world.gates().values():
        gate.data.fill_(2.0)  # wide open: NaN would flow if it were not guarded
    world.eval()
    batch = _batch()
    images, masks = world.prepare_images(batch)
    mem, mem_mask = _memory()
    mem[1, 0, 0] = float("nan")
    with world.model.world_memory(mem, mem_mask):
        actions = world.model.sample_actions(
            images,
            masks,
            batch["observation.language.tokens"],
            batch["observation.language.attention_mask"],
            world.prepare_state(batch),
        )
    assert torch.isfinite(actions).all()


def _prefix_lengths(model) -> list[int]:
    """Record the prefix length the VLM sees on every call (training and inference)."""
    seen = []
    original = model.vlm_with_expert.forward

    def spy(*args, **kwargs):
        prefix = kwargs["inputs_embeds"][0]
        if prefix is not None:
            seen.append(prefix.shape[1])
        return original(*args, **kwargs)

    model.vlm_with_expert.forward = spy
    return seen


@pytest.mark.parametrize("block", ["prefix", "state"])
def test_prefix_world_tokens_are_added_not_written_over(tiny_smolvlm, cache, block):
    base, world = _pair(tiny_smolvlm, cache, world_prefix_tokens=5, world_prefix_block=block)
    batch = _batch()
    images, masks = base.prepare_images(batch)
    args = (images, masks, batch["observation.language.tokens"], batch["observation.language.attention_mask"])
    state = base.prepare_state(batch)
    embs, pad, att = base.model.embed_prefix(*args, state=state)
    mem, mem_mask = _memory()
    with world.model.world_memory(mem, mem_mask):
        w_embs, w_pad, w_att = world.model.embed_prefix(*args, state=state)
    n = embs.shape[1]
    assert w_embs.shape[1] == n + 5
    keep = [*range(n - 1), n + 4]  # everything before the state token, and the state token
    assert torch.equal(w_embs[:, keep], embs) and torch.equal(w_pad[:, keep], pad)
    assert torch.equal(w_att[:, keep], att)
    world_att = w_att[0, n - 1 : n + 4].tolist()
    assert world_att == ([0] * 5 if block == "prefix" else [1, 0, 0, 0, 0])

    seen = _prefix_lengths(world.model)
    world.forward(batch)  # training
    world.eval()
    with world.model.world_memory(mem, mem_mask):
        world.model.sample_actions(*args, state)  # inference
    assert seen == [n + 5, n + 5]


def test_save_and_load_round_trip(tiny_smolvlm, cache, tmp_path):
    _, world = _pair(
        tiny_smolvlm, cache, **ALL_EXACT_FUSIONS, world_num_hypotheses=2, world_hypothesis_method="mixture"
    )
    for gate in world.model.world.gates().values():
        gate.data.fill_(0.7)
    world.save_pretrained(tmp_path / "ckpt")
    loaded = SmolVLAWorldPolicy.from_pretrained(tmp_path / "ckpt")
    assert isinstance(loaded.config, SmolVLAWorldConfig) and loaded.config.world_num_hypotheses == 2
    world.eval(), loaded.eval()
    batch = _batch()
    images, masks = world.prepare_images(batch)
    args = (images, masks, batch["observation.language.tokens"], batch["observation.language.attention_mask"])
    noise = torch.randn(3, CHUNK, 32)
    z_hist, hist_mask = torch.randn(3, 4, 64), torch.ones(3, 4, dtype=torch.bool)
    outputs = []
    for policy in (world, loaded):
        mem = policy.model.world.bank(z_hist, hist_mask).flatten(1, 2)
        with policy.model.world_memory(mem, torch.ones(mem.shape[:2], dtype=torch.bool)):
            outputs.append(policy.model.sample_actions(*args, policy.prepare_state(batch), noise=noise))
    assert torch.equal(outputs[0], outputs[1])


def test_world_policy_is_a_subclass_only_in_behaviour(tiny_smolvlm, cache):
    _, world = _pair(tiny_smolvlm, cache)
    assert isinstance(world.model, VLAFlowMatching) and world.name == "smolvla_world"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"world_prefix_block": "middle"}, "world_prefix_block='middle' is not one of prefix, state"),
        ({"world_memory_mode_train": "future"}, "world_memory_mode_train"),
        ({"world_memory_mode_rollout": "oracle"}, "world_memory_mode_rollout"),
        ({"world_memory_mode_rollout": "learned"}, "needs a policy trained with learned memory tokens"),
        ({"world_hypothesis_method": "beam"}, "world_hypothesis_method"),
        ({"enable_world_injection": False}, "no fusion point is enabled"),
        ({"world_k": 0}, "world_k must be >= 1"),
    ],
)
def test_config_rejects_bad_flags_clearly(tiny_smolvlm, overrides, message):
    with pytest.raises(ValueError, match=message):
        SmolVLAWorldConfig(**smolvla_kwargs(tiny_smolvlm), **overrides)


def test_init_from_a_smolvla_checkpoint_reuses_its_weights_and_processor_pipeline(
    tiny_smolvlm, cache, tmp_path
):
    from lerobot.policies.smolvla.processor_smolvla import make_smolvla_pre_post_processors

    from lerobot_policy_smolvla_world import make_smolvla_world_pre_post_processors

    torch.manual_seed(3)
    base_config = SmolVLAConfig(**smolvla_kwargs(tiny_smolvlm))
    base = SmolVLAPolicy(base_config)
    stats = {"observation.state": {"mean": torch.full((8,), 0.5), "std": torch.full((8,), 2.0)},
             "action": {"mean": torch.full((7,), -1.0), "std": torch.full((7,), 3.0)}}  # fmt: skip
    pre, post = make_smolvla_pre_post_processors(base_config, stats)
    base.save_pretrained(tmp_path / "init")
    pre.save_pretrained(tmp_path / "init")
    post.save_pretrained(tmp_path / "init")

    config = _world_config(tiny_smolvlm, cache, init_from_policy_path=str(tmp_path / "init"))
    world = SmolVLAWorldPolicy(config)
    for key, value in base.state_dict().items():
        assert torch.equal(world.state_dict()[key], value), key

    # The init's pipeline (steps and settings), normalising with the fine-tuning dataset's statistics — what
    # lerobot-train gives E0 from the same init (tests/test_parity.py trains both and compares).
    dataset_stats = {k: {s: v * 10 for s, v in d.items()} for k, d in stats.items()}
    w_pre, w_post = make_smolvla_world_pre_post_processors(config, dataset_stats)
    assert [type(s) for s in w_pre.steps] == [type(s) for s in pre.steps]
    loaded = w_pre.steps[-1].state_dict()  # the normalizer step
    assert all(torch.equal(loaded[f"{k}.{s}"], v) for k, d in dataset_stats.items() for s, v in d.items())
    action = torch.zeros(1, 7)
    assert torch.allclose(w_post(action), torch.full((1, 7), -10.0))  # the dataset's unnormalisation: -10 + 0


def test_logging_step_reports_every_metric_once_and_attention_per_hypothesis(tiny_smolvlm, cache, tmp_path):
    import json

    config = _world_config(
        tiny_smolvlm,
        cache,
        world_num_hypotheses=2,
        world_hypothesis_method="ensemble",
        world_best_of_n=True,
        world_log_freq=2,
        world_metrics_file=str(tmp_path / "metrics.jsonl"),
    )
    torch.manual_seed(0)
    world = SmolVLAWorldPolicy(config)
    optimizer = torch.optim.AdamW(world.parameters(), lr=1e-4)
    dicts = []
    for _ in range(4):
        loss, d = world.forward(_batch())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        dicts.append(d)
    assert "world_loss" not in dicts[0] and "world_loss" in dicts[1]  # only on logging steps 2 and 4
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4] and records[0]["samples"] == 6
    mass = records[1]["world_attn_hyp0"] + records[1]["world_attn_hyp1"]
    assert mass == pytest.approx(1.0, abs=1e-5)
    assert records[1]["lr"] == pytest.approx(1e-4) and records[1]["grad_prophet"] > 0
    assert all(isinstance(v, float) for k, v in dicts[1].items() if k.startswith("world_"))
