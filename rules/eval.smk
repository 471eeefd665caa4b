rule eval:
    input:
        train=rules.train.output.train,
        loads=lambda w: wf.eval_inputs(config, w.exp),
    output:
        result="results/{study}/{suite}/{exp}/seed{seed}/eval/{mode}.json",
    log:
        "logs/{study}/{suite}/{exp}/seed{seed}/eval_{mode}.log",
    benchmark:
        "logs/{study}/{suite}/{exp}/seed{seed}/eval_{mode}.benchmark.tsv"
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_eval_args,
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gpu-run --gpus {resources.gpu} -- lerobot-wm-eval {params.args}) > {log} 2>&1"
