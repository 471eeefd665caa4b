rule dataset:
    output:
        dataset=directory("results/{study}/data/{dataset}"),
    log:
        "logs/{study}/data/{dataset}.log",
    benchmark:
        "logs/{study}/data/{dataset}.benchmark.tsv"
    retries: 1
    threads: config["resources"]["data"]["cpus"]
    resources:
        **get_resources("data"),
    params:
        command=get_dataset_command,
    shell:
        "wmvla data {params.command} --out {output.dataset} > {log} 2>&1"
