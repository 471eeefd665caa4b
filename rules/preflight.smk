checkpoint preflight:  # a checkpoint: GPU jobs wait for it without a file dependency (see common.smk)
    input:
        loads=artifacts.preflight_inputs(config),
    output:
        checks=paths.PREFLIGHT,
    log:
        paths.log("preflight"),
    benchmark:
        paths.benchmark("preflight")
    threads: config["resources"]["preflight"]["cpus"]
    resources:
        **get_resources("preflight"),
    params:
        args=shlex.join(commands.preflight_args(config)),
        manifests=get_hub_manifests,
        hub="",  # the preflight checks the Hub cache itself (one record among its checks)
    shell:
        job("wmvla preflight {params.manifests} {params.args} --out {output.checks}")
