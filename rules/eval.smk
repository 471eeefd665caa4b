rule eval:
    input:
        train=rules.train.output.train,
        loads=lambda w: list(eval_loads(w.exp)),
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


rule eval_perturbed:  # a trained run on LIBERO-PRO's variant of its suite: evaluation only, paired with `eval`
    input:
        train=rules.train.output.train,
        loads=lambda w: list(eval_loads(w.exp)),
        gates=after_gates,
        scene=after_perturbation_scene,
    output:
        result=paths.EVAL_PERTURBED,
    log:
        paths.log("eval_perturbed"),
    benchmark:
        paths.benchmark("eval_perturbed")
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_perturbed_eval_args,
        hub=get_hub_manifests,
    shell:
        job("lerobot-wm-eval {params.args}")
