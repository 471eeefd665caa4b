rule hub:
    output:
        manifest="results/{study}/hub/manifests/{artifact}.json",
    log:
        "logs/{study}/hub/{artifact}.log",
    benchmark:
        "logs/{study}/hub/{artifact}.benchmark.tsv"
    retries: 2  # downloads resume where they stopped
    params:
        entry=get_hub_entry,
        cache=wf.hub_dir(config),
    shell:
        "HF_HUB_OFFLINE=0 wmvla hub fetch --entry {params.entry} --cache {params.cache}"
        " --out {output.manifest} > {log} 2>&1"
