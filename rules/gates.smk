rule gate_experiment:
    input:
        loads=lambda w: wf.train_inputs(config, w.exp),
        latents=lambda w: wf.latent_gate_inputs(config, w.exp),
        preflight=after_preflight,
    output:
        record="results/{study}/gates/experiments/{exp}.json",
        config="results/{study}/gates/configs/{exp}.json",
    log:
        "logs/{study}/gates/{exp}.log",
    benchmark:
        "logs/{study}/gates/{exp}.benchmark.tsv"
    threads: config["resources"]["gates"]["cpus"]
    resources:
        **get_resources("gates"),
    params:
        plan=lambda w: shlex.quote(wf.experiment_gate_plan(config, w.exp)),
        steps=config["gates"]["train_steps"],
        enforce=get_gates_enforce(),
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gpu-run --gpus {resources.gpu} --"
        " wmvla gates experiment --plan {params.plan} --train-steps {params.steps}"
        " --configs-dir results/{wildcards.study}/gates/configs"
        " --enforce {params.enforce} --out {output.record}) > {log} 2>&1"


rule gate_latents:
    input:
        cache=lambda w: wf.latent_cache_dir(config, w.encoder),
    output:
        record="results/{study}/gates/latents/{encoder}.json",
    log:
        "logs/{study}/gates/latents_{encoder}.log",
    params:
        limits=config["gates"]["latents"],
        enforce=get_gates_enforce(),
    shell:
        "wmvla gates latents --cache {input.cache} --max-consecutive-cos {params.limits[max_consecutive_cos]}"
        " --min-relative-std {params.limits[min_relative_std]} --enforce {params.enforce}"
        " --out {output.record} > {log} 2>&1"


rule gate_init_policy:
    input:
        loads=wf.init_inputs(config) + wf.vlm_inputs(config),
        preflight=after_preflight,
    output:
        record="results/{study}/gates/init_policy/{suite}.json",
        result="results/{study}/gates/init_policy/{suite}/pred.json",
    log:
        "logs/{study}/gates/init_policy_{suite}.log",
    benchmark:
        "logs/{study}/gates/init_policy_{suite}.benchmark.tsv"
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=lambda w: shlex.join(wf.init_gate_eval_args(config, w.suite)),
        min_sr=config["gates"]["min_init_sr"],
        enforce=get_gates_enforce(),
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gpu-run --gpus {resources.gpu} -- lerobot-wm-eval {params.args}"
        " && wmvla gates init-policy --result {output.result} --min-sr {params.min_sr}"
        " --enforce {params.enforce} --out {output.record}) > {log} 2>&1"


rule gate_scene:
    input:
        loads=wf.dataset_inputs(config),
    output:
        record="results/{study}/gates/scene/{suite}.json",
        report="results/{study}/gates/scene/{suite}.report.json",
    log:
        "logs/{study}/gates/scene_{suite}.log",
    benchmark:
        "logs/{study}/gates/scene_{suite}.benchmark.tsv"
    threads: config["resources"]["scene"]["cpus"]
    resources:
        **get_resources("scene"),
    params:
        args=lambda w: shlex.join(wf.scene_check_args(config, w.suite)),
        enforce=get_gates_enforce(),
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla sim check {params.args} --report {output.report}"
        " --gate-out {output.record} --enforce {params.enforce}) > {log} 2>&1"


checkpoint study_gates:  # the gates every training waits for, as a checkpoint (see common.smk)
    input:
        records=wf.study_gate_records(config),
    output:
        summary="results/{study}/gates/study.json",
    log:
        "logs/{study}/gates/study.log",
    params:
        enforce=get_gates_enforce(),
        skipped=shlex.join(wf.skipped_gates(config)),
    shell:
        "wmvla gates summary {input.records} --skipped {params.skipped} --enforce {params.enforce}"
        " --out {output.summary} > {log} 2>&1"


rule gates:  # every gate, for the report
    input:
        records=wf.gate_records(config),
    output:
        summary="results/{study}/gates/gates.json",
    log:
        "logs/{study}/gates/gates.log",
    params:
        enforce=get_gates_enforce(),
        skipped=shlex.join(wf.skipped_gates(config)),
    shell:
        "wmvla gates summary {input.records} --skipped {params.skipped} --enforce {params.enforce}"
        " --out {output.summary} > {log} 2>&1"
