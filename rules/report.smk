rule tables:
    input:
        evals=wf.eval_results(config),
        offline=wf.offline_results(config),
        train=wf.world_train_dirs(config),
    output:
        **get_table_outputs(),
    log:
        "logs/report/tables.log",
    benchmark:
        "logs/report/tables.benchmark.tsv"
    params:
        metrics=lambda w, input: [f"{d}/metrics.jsonl" for d in input.train],
        baseline=get_baseline_arg(),
        out=wf.TABLES_DIR,
    shell:
        "wmvla report tables --evals {input.evals} --offline {input.offline}"
        " --metrics {params.metrics} {params.baseline} --out {params.out} > {log} 2>&1"


rule figure:
    input:
        tables=rules.tables.output,
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
        svg="results/figures/{figure}.svg",
    log:
        "logs/report/figure_{figure}.log",
    benchmark:
        "logs/report/figure_{figure}.benchmark.tsv"
    params:
        experiments=list(config["experiments"]),
        tables=wf.TABLES_DIR,
        out=wf.FIGURES_DIR,
    shell:
        "wmvla report figures --tables {params.tables} --figures {wildcards.figure}"
        " --experiments {params.experiments} --out {params.out} > {log} 2>&1"
