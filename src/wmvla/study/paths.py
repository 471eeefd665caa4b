"""Every path of the results tree (DESIGN.md §5), written once: the rules' outputs are these patterns, and
the library fills them for a study config.

Why one module: a path spelt twice — once in a rule's `output:`, once where another job finds that output —
breaks the DAG the day one of them changes. Patterns use Snakemake's wildcard syntax (`{study}`, `{suite}`…);
`fill` formats them for one study, `pattern` fixes some fields and leaves the others as wildcards.
"""

import string
from pathlib import Path

from wmvla.latents.registry import encoder_spec
from wmvla.study.config import train_steps

STUDY = "results/{study}"
TINY_MODEL = STUDY + "/models/{model}-tiny"
DATASET = STUDY + "/data/{dataset}"
HUB_CACHE = STUDY + "/hub"
TOOL_CACHE = (
    STUDY + "/.cache"
)  # the libraries' own caches (kernels, fonts, shaders): not artifacts, not versioned
HUB_MANIFEST = HUB_CACHE + "/manifests/{artifact}.json"
INIT = STUDY + "/init"  # the init checkpoint as jobs load it: its Hub names resolved to the study's snapshots
LATENT_CACHE = STUDY + "/latents/{dataset}/{encoder}/temporal_window_{temporal_window}"
PREFLIGHT = STUDY + "/preflight/preflight.json"
GATES_DIR = STUDY + "/gates"
GATE_EXPERIMENT = GATES_DIR + "/experiments/{exp}.json"
GATE_CONFIGS = GATES_DIR + "/configs"
GATE_CONFIG = GATE_CONFIGS + "/{exp}.json"
GATE_PROCESSORS = GATES_DIR + "/processors/{exp}"  # the pre-/post-processors its gate training saved
GATE_LATENTS = GATES_DIR + "/latents/{encoder}.json"
GATE_INIT_POLICY = GATES_DIR + "/init_policy/{suite}.json"
GATE_INIT_RESULT = GATES_DIR + "/init_policy/{suite}/pred.json"
GATE_SCENE = GATES_DIR + "/scene/{suite}.json"
GATE_SCENE_REPORT = GATES_DIR + "/scene/{suite}.report.json"
STUDY_GATES = GATES_DIR + "/study.json"
GATE_CLEARED = GATES_DIR + "/cleared/{exp}.json"  # every gate one experiment's runs wait for, passed
PERTURBATION_CLEARED = GATES_DIR + "/cleared/suites/{suite}.json"  # a perturbed suite's scene check, passed
GATES = GATES_DIR + "/gates.json"
RUN = STUDY + "/{suite}/{exp}/seed{seed}"
TRAIN = RUN + "/train"
EVAL = RUN + "/eval/{mode}.json"
EVAL_PERTURBED = RUN + "/eval/{perturbation}/{mode}.json"  # the run on LIBERO-PRO's `<suite>_<perturbation>`
OFFLINE = RUN + "/offline.json"
TABLES_DIR = STUDY + "/tables"
TABLE = TABLES_DIR + "/{table}.csv"
VERDICTS = TABLES_DIR + "/verdicts.csv"
FIGURES_DIR = STUDY + "/figures"
FIGURE = FIGURES_DIR + "/{figure}.{ext}"
REPORT = STUDY + "/report.html"
COST = STUDY + "/cost.csv"  # `wmvla cost` of the finished study: forecast and measured, rule by rule

# Each rule's log and benchmark file, under logs/<study>/ (outside every output: LeRobot refuses an existing
# output directory, and a log must survive its job's failure).
LOGS = "logs/{study}"
CURVES = LOGS + "/curves/{suite}/{exp}/seed{seed}"  # a run's TensorBoard event files (wmvla.train.progress)
JOB_LOGS = {
    "tiny_model": "models/{model}-tiny",
    "hub": "hub/{artifact}",
    "init_checkpoint": "hub/init",
    "dataset": "data/{dataset}",
    "latents": "latents/{dataset}/{encoder}/temporal_window_{temporal_window}",
    "preflight": "preflight/preflight",
    "gate_experiment": "gates/{exp}",
    "gate_latents": "gates/latents_{encoder}",
    "gate_init_policy": "gates/init_policy_{suite}",
    "gate_scene": "gates/scene_{suite}",
    "study_gates": "gates/study",
    "experiment_cleared": "gates/cleared_{exp}",
    "perturbation_cleared": "gates/cleared_suite_{suite}",
    "gates": "gates/gates",
    "train": "{suite}/{exp}/seed{seed}/train",
    "eval": "{suite}/{exp}/seed{seed}/eval_{mode}",
    "eval_perturbed": "{suite}/{exp}/seed{seed}/eval_{perturbation}/{mode}",  # a folder: not an `eval_{mode}`
    "offline_check": "{suite}/{exp}/seed{seed}/offline",
    "tables": "report/tables",
    "verdicts": "report/verdicts",
    "figure": "report/figure_{figure}",
    "cost": "report/cost",
}


def log(rule: str) -> str:
    return f"{LOGS}/{JOB_LOGS[rule]}.log"


def benchmark(rule: str) -> str:
    """Snakemake's benchmark file of a rule's job: seconds, CPU time, peak memory (`wmvla cost` reads it)."""
    return f"{LOGS}/{JOB_LOGS[rule]}.benchmark.tsv"


class _Wildcards(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def pattern(template: str, **fields: object) -> str:
    """`template` with some fields filled and the others left as wildcards."""
    return string.Formatter().vformat(template, (), _Wildcards(fields))


def fill(template: str, config: dict, **fields: object) -> str:
    """`template` for the study of `config`; every field must be given."""
    return template.format(study=config["study"], **fields)


def study_root(config: dict) -> Path:
    """Every output of a study lives under `results/<study>/`: two studies never share a path."""
    return Path(fill(STUDY, config))


def encoder_temporal_window(config: dict, encoder: str) -> int:
    """Frames per clip: fixed by the model for Cosmos (1 + its temporal compression), else the study's
    `world.temporal_window`."""
    return encoder_spec(encoder).temporal_window or config["world"]["temporal_window"]


def latent_cache_dir(config: dict, encoder: str) -> Path:
    """One cache per (dataset, encoder): `<encoder>/temporal_window_<frames per clip>`."""
    dataset, temporal_window = config["dataset"]["name"], encoder_temporal_window(config, encoder)
    return Path(fill(LATENT_CACHE, config, dataset=dataset, encoder=encoder, temporal_window=temporal_window))


def train_dir(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    return Path(fill(TRAIN, config, suite=suite, exp=exp, seed=seed))


def eval_result(config: dict, suite: str, exp: str, seed: int | str, mode: str) -> Path:
    return Path(fill(EVAL, config, suite=suite, exp=exp, seed=seed, mode=mode))


def perturbed_eval_result(config: dict, suite: str, exp: str, seed: int | str, kind: str, mode: str) -> Path:
    """The evaluation of a run (on its plain `suite`) under the perturbation `kind`."""
    return Path(fill(EVAL_PERTURBED, config, suite=suite, exp=exp, seed=seed, perturbation=kind, mode=mode))


def offline_result(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    return Path(fill(OFFLINE, config, suite=suite, exp=exp, seed=seed))


def checkpoint_dir(config: dict, suite: str, exp: str, seed: int | str) -> Path:
    """The model LeRobot saved at the last step, by its step directory (named as LeRobot names it).

    Why not `checkpoints/last`: that is a symlink, which DVC does not version; the step directory is
    what gets shared and pulled.
    """
    steps = train_steps(config)
    step = f"{steps:0{max(6, len(str(steps)))}d}"
    return train_dir(config, suite, exp, seed) / "checkpoints" / step / "pretrained_model"
