rule dataset:
    output:
        dataset=directory("results/data/{dataset}"),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/data/{dataset}.benchmark.tsv"
    retries: 1
    threads: config["resources"]["data"]["cpus"]
    resources:
        **get_resources("data"),
    params:
        command=get_dataset_command,
    shell:
        "wmvla data {params.command} --out {output.dataset} > {log} 2>&1"
