rule eval:
    input:
        train=rules.train.output.train,
        loads=lambda w: artifacts.eval_inputs(config, w.exp),
        gates=after_gates,
    output:
        result=paths.EVAL,
    log:
        paths.log("eval"),
    benchmark:
        paths.benchmark("eval")
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_eval_args,
        hub=get_hub_manifests,
    shell:
        job("lerobot-wm-eval {params.args}")
