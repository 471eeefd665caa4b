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
        "HF_HUB_OFFLINE=0 " + LOCAL_JOB + " wmvla hub fetch --entry {params.entry}"
        " --cache {params.cache} --out {output.manifest}"
