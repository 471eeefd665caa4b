# wmvla: is a world model the modality missing from VLA control?
# Default config: the CPU smoke study. The full study: `--configfile config/config.yaml`
# (the mi300x profile sets it). See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/smoke.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/models.smk"
include: "rules/data.smk"
include: "rules/latents.smk"
include: "rules/train.smk"
include: "rules/eval.smk"
include: "rules/offline.smk"
include: "rules/report.smk"


rule all:
    input:
        wf.all_targets(config),
