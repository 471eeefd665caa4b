rule hub:
    output:
        manifest=paths.HUB_MANIFEST,
    log:
        paths.log("hub"),
    benchmark:
        paths.benchmark("hub")
    retries: 2  # downloads resume where they stopped
    params:
        entry=get_hub_entry,
        cache=artifacts.hub_dir(config),
    shell:  # the one job with network: it lifts the offline mode every other job runs in
        local_job(
            "wmvla hub fetch --entry {params.entry}"
            " --cache {params.cache} --out {output.manifest}",
            env="HF_HUB_OFFLINE=0",
        )


rule init_checkpoint:  # the init checkpoint as every job loads it: its Hub names point at the locked snapshots
    input:
        loads=artifacts.init_localize_inputs(config),
    output:
        init=directory(paths.pattern(paths.INIT)),
    log:
        paths.log("init_checkpoint"),
    params:
        source=lambda w: artifacts.init_origin(config)[0],
        names=lambda w: shlex.quote(
            json.dumps(artifacts.locked_names(config), sort_keys=True)
        ),
        hub=get_hub_manifests,
    shell:
        "wmvla job --log {log} --hub {params.hub} -- wmvla hub localize --source {params.source}"
        " --names {params.names} --out {output.init}"
