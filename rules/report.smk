rule tables:
    input:
        evals=wf.eval_results(config),
        offline=wf.offline_results(config),
        train=wf.world_train_dirs(config),
        gates=wf.gates_file(config),
    output:
        **get_table_outputs(),
    log:
        f"logs/{config['study']}/report/tables.log",
    benchmark:
        f"logs/{config['study']}/report/tables.benchmark.tsv"
    params:
        metrics=lambda w, input: [f"{d}/metrics.jsonl" for d in input.train],
        baseline=get_baseline_arg(),
        out=wf.tables_dir(config),
        study=config["study"],
    shell:
        "wmvla report tables --study {params.study} --gates {input.gates}"
        " --evals {input.evals} --offline {input.offline}"
        " --metrics {params.metrics} {params.baseline} --out {params.out} > {log} 2>&1"


rule figure:
    input:
        tables=rules.tables.output,
    output:
        png=report(
            "results/{study}/figures/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
        svg="results/{study}/figures/{figure}.svg",
    log:
        "logs/{study}/report/figure_{figure}.log",
    benchmark:
        "logs/{study}/report/figure_{figure}.benchmark.tsv"
    params:
        experiments=list(config["experiments"]),
        tables=wf.tables_dir(config),
        out=wf.figures_dir(config),
    shell:
        "wmvla report figures --tables {params.tables} --figures {wildcards.figure}"
        " --experiments {params.experiments} --out {params.out} > {log} 2>&1"
