rule gate_experiment:
    input:
        loads=lambda w: list(train_loads(w.exp)),
        latents=after_latent_gate,
        baseline_processors=lambda w: targets.baseline_processors(config, w.exp),
        preflight=after_preflight,
    output:
        record=paths.GATE_EXPERIMENT,
        config=paths.GATE_CONFIG,
        processors=directory(paths.GATE_PROCESSORS),
    log:
        paths.log("gate_experiment"),
    benchmark:
        paths.benchmark("gate_experiment")
    threads: config["resources"]["gates"]["cpus"]
    resources:
        **get_resources("gates"),
    params:
        plan=lambda w: shlex.quote(commands.experiment_gate_plan(config, w.exp)),
        steps=config["gates"]["train_steps"],
        configs=paths.fill(paths.GATE_CONFIGS, config),
        hub=get_hub_manifests,
    shell:
        job(
            "wmvla gates experiment --plan {params.plan} --train-steps {params.steps}"
            " --configs-dir {params.configs} --processors {output.processors}"
            " --baseline-processors {input.baseline_processors} --enforce $WMVLA_GATES_ENFORCE --out {output.record}"
        )


checkpoint gate_latents:  # a checkpoint: the jobs reading its cache wait for it (see common.smk)
    input:
        cache=lambda w: str(paths.latent_cache_dir(config, w.encoder)),
    output:
        record=paths.GATE_LATENTS,
    log:
        paths.log("gate_latents"),
    benchmark:
        paths.benchmark("gate_latents")
    threads: config["resources"]["latent_gate"]["cpus"]
    resources:
        **get_resources("latent_gate"),
    params:
        limits=config["gates"]["latents"],
    shell:
        local_job(
            "wmvla gates latents --cache {input.cache}"
            " --max-consecutive-cos {params.limits[max_consecutive_cos]}"
            " --min-relative-std {params.limits[min_relative_std]} --enforce $WMVLA_GATES_ENFORCE"
            " --out {output.record}"
        )


rule gate_init_policy:  # the init checkpoint evaluated unchanged, then its success rate gated
    input:
        loads=artifacts.init_gate_inputs(config),
        preflight=after_preflight,
    output:
        record=paths.GATE_INIT_POLICY,
        result=paths.GATE_INIT_RESULT,
    log:
        paths.log("gate_init_policy"),
    benchmark:
        paths.benchmark("gate_init_policy")
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=lambda w: shlex.join(commands.init_gate_eval_args(config, w.suite)),
        min_sr=config["gates"]["min_init_sr"],
        hub=get_hub_manifests,
    shell:
        job(
            "wmvla gates init-policy --result {output.result} --min-sr {params.min_sr}"
            " --enforce $WMVLA_GATES_ENFORCE --out {output.record} -- {params.args}"
        )


rule gate_scene:
    input:
        loads=artifacts.dataset_inputs(config),
    output:
        record=paths.GATE_SCENE,
        report=paths.GATE_SCENE_REPORT,
    log:
        paths.log("gate_scene"),
    benchmark:
        paths.benchmark("gate_scene")
    threads: config["resources"]["scene"]["cpus"]
    resources:
        **get_resources("scene"),
    params:
        args=lambda w: shlex.join(commands.scene_check_args(config, w.suite)),
        hub=get_hub_manifests,
    shell:
        job(
            "wmvla sim check {params.args} --report {output.report}"
            " --gate-out {output.record} --enforce $WMVLA_GATES_ENFORCE"
        )


rule study_gates:  # the study-wide gates, once (every experiment's clearance reads them)
    input:
        records=targets.study_gate_records(config),
    output:
        summary=paths.STUDY_GATES,
    log:
        paths.log("study_gates"),
    params:
        enforce=GATES_ENFORCE,
        skipped=shlex.join(commands.skipped_gates(config)),
    shell:
        gates_summary("--skipped {params.skipped}")


checkpoint experiment_cleared:  # what an experiment's jobs wait for, never read (common.smk)
    input:
        records=lambda w: targets.clearance_records(config, w.exp),
    output:
        summary=paths.GATE_CLEARED,
    log:
        paths.log("experiment_cleared"),
    params:
        enforce=GATES_ENFORCE,
    shell:
        gates_summary()


checkpoint perturbation_cleared:  # what a perturbed suite's evaluations wait for, never read (common.smk)
    input:
        records=paths.GATE_SCENE,
    output:
        summary=paths.PERTURBATION_CLEARED,
    log:
        paths.log("perturbation_cleared"),
    params:
        enforce=GATES_ENFORCE,
    shell:
        gates_summary("--stops 'no evaluation of this perturbed suite starts'")


rule gates:  # every gate, for the report, with the runtime limits the gates' rates say do not fit
    input:
        records=targets.gate_records(config),
    output:
        summary=paths.GATES,
    log:
        paths.log("gates"),
    params:
        enforce=GATES_ENFORCE,
        skipped=shlex.join(commands.skipped_gates(config)),
        config=get_config_json(),
    shell:
        gates_summary("--skipped {params.skipped} --study-config {params.config}")
