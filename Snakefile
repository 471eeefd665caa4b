# wmvla: is a world model the modality missing from VLA control?
# Default config: the CPU smoke study. The full study: `--configfile config/config.yaml`
# (the mi300x profile sets it). See README.md.
from snakemake.utils import min_version

from wmvla.study.config import check_configfiles

min_version("9.0")


# The study is config/smoke.yaml unless `--configfile` names another: then that file alone, so that no
# smoke setting (tiny images, tiny VLM) leaks into a study that does not set it. A target written after
# `--configfile` is one of its files: refused in one line.
check_configfiles(workflow.overwrite_configfiles)
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/smoke.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/hub.smk"
include: "rules/data.smk"
include: "rules/preflight.smk"
include: "rules/latents.smk"
include: "rules/gates.smk"
include: "rules/train.smk"
include: "rules/eval.smk"
include: "rules/offline.smk"
include: "rules/report.smk"


onstart:
    # A real run never starts on unpinned Hub artifacts (a dry run only warns), nor on a cluster where the
    # Slurm executor would wait forever on a job that ended.
    if HUB_LOCK_PROBLEMS:
        raise HubError("\n".join(HUB_LOCK_PROBLEMS))
    if problems := cluster_problems(workflow):
        raise SlurmSetupError("\n".join(problems))


localrules:
    all,
    hub,  # the only step with network: it runs where Snakemake runs (the login node)
    init_checkpoint,  # links and two small JSON files, next to the hub stage's cache
    gates,
    study_gates,
    experiment_cleared,
    perturbation_cleared,
    tables,
    verdicts,
    figure,
    cost,


rule all:
    input:
        targets.all_targets(config, FIGURES),
