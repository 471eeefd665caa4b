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
        design=get_design_arg(),
        out=wf.tables_dir(config),
        study=config["study"],
    shell:
        "wmvla report tables --study {params.study} --gates {input.gates}"
        " --evals {input.evals} --offline {input.offline}"
        " --metrics {params.metrics} --design {params.design} --out {params.out} > {log} 2>&1"


rule verdicts:
    input:
        tables=rules.tables.output,
    output:
        verdicts=report(
            "results/{study}/tables/verdicts.csv",
            caption="../report/verdicts.rst",
            category="1 · What the evidence says",
        ),
    log:
        "logs/{study}/report/verdicts.log",
    params:
        tables=wf.tables_dir(config),
        design=get_design_arg(),
    shell:
        "wmvla report verdicts --tables {params.tables} --design {params.design}"
        " --out {output.verdicts} > {log} 2>&1"


rule figure:
    input:
        tables=rules.tables.output,
    output:
        png=report(
            "results/{study}/figures/{figure}.png",
            caption="../report/figure.rst",
            category=get_figure_category,
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
