rule cost:  # what the study cost (benchmark files) beside what the gates' rates forecast, rule by rule
    input:
        evals=targets.eval_results(config),
        perturbed=targets.perturbed_eval_results(config),
        offline=targets.offline_results(config),
        gates=paths.fill(paths.GATES, config),
    output:
        cost=paths.COST,
    log:
        paths.log("cost"),
    params:
        config=get_config_json(),
    shell:
        local_job("wmvla cost --config-json {params.config} --csv {output.cost}")


rule tables:
    input:
        evals=[*targets.eval_results(config), *targets.perturbed_eval_results(config)],
        offline=targets.offline_results(config),
        train=targets.world_train_dirs(config),
        gates=paths.fill(paths.GATES, config),
        cost=paths.fill(paths.COST, config),
    output:
        **get_table_outputs(),
    log:
        paths.log("tables"),
    benchmark:
        paths.benchmark("tables")
    params:
        metrics=lambda w, input: [f"{d}/metrics.jsonl" for d in input.train],
        design=get_design_arg(),
        out=paths.fill(paths.TABLES_DIR, config),
    shell:
        local_job(
            "wmvla report tables --study {wildcards.study} --gates {input.gates}"
            " --evals {input.evals} --offline {input.offline} --cost {input.cost}"
            " --metrics {params.metrics} --design {params.design} --out {params.out}"
        )


rule verdicts:
    input:
        tables=rules.tables.output,
    output:
        verdicts=report(
            paths.VERDICTS,
            caption="../report/verdicts.rst",
            category="1 · What the evidence says",
        ),
    log:
        paths.log("verdicts"),
    params:
        tables=paths.fill(paths.TABLES_DIR, config),
        design=get_design_arg(),
    shell:
        local_job(
            "wmvla report verdicts --tables {params.tables} --design {params.design}"
            " --out {output.verdicts}"
        )


rule figure:
    input:
        tables=rules.tables.output,
    output:
        png=report(
            paths.pattern(paths.FIGURE, ext="png"),
            caption="../report/figure.rst",
            category=get_figure_category,
        ),
        svg=paths.pattern(paths.FIGURE, ext="svg"),
    log:
        paths.log("figure"),
    benchmark:
        paths.benchmark("figure")
    params:
        experiments=list(config["experiments"]),
        tables=paths.fill(paths.TABLES_DIR, config),
        out=paths.fill(paths.FIGURES_DIR, config),
    shell:
        local_job(
            "wmvla report figures --tables {params.tables} --figures {wildcards.figure}"
            " --experiments {params.experiments} --out {params.out}"
        )
