rule offline_check:
    input:
        train=rules.train.output.train,
        loads=lambda w: wf.offline_inputs(config, w.exp),
    output:
        result="results/{study}/{suite}/{exp}/seed{seed}/offline.json",
    log:
        "logs/{study}/{suite}/{exp}/seed{seed}/offline.log",
    benchmark:
        "logs/{study}/{suite}/{exp}/seed{seed}/offline.benchmark.tsv"
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_offline_args,
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gpu-run --gpus {resources.gpu} -- wmvla eval offline {params.args} --out {output.result}) > {log} 2>&1"
