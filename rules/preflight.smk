checkpoint preflight:  # a checkpoint: GPU jobs wait for it without a file dependency (see common.smk)
    input:
        loads=wf.preflight_inputs(config),
    output:
        checks="results/{study}/preflight/preflight.json",
    log:
        "logs/{study}/preflight/preflight.log",
    benchmark:
        "logs/{study}/preflight/preflight.benchmark.tsv"
    threads: config["resources"]["preflight"]["cpus"]
    resources:
        **get_resources("preflight"),
    params:
        args=shlex.join(wf.preflight_args(config)),
        hub=get_hub_manifests,
    shell:
        "wmvla gpu-run --gpus {resources.gpu} -- wmvla preflight {params.hub} {params.args}"
        " --out {output.checks} > {log} 2>&1"
