rule dataset:
    output:
        dataset=directory(paths.DATASET),
    log:
        paths.log("dataset"),
    benchmark:
        paths.benchmark("dataset")
    retries: 1
    threads: config["resources"]["data"]["cpus"]
    resources:
        **get_resources("data"),
    params:
        command=get_dataset_command,
        hub="",
    shell:
        job("wmvla data {params.command} --out {output.dataset}")
