rule gate_experiment:
    input:
        loads=wf.init_inputs(config),
    output:
        record="results/{study}/gates/experiments/{exp}.json",
        config="results/{study}/gates/configs/{exp}.json",
    log:
        "logs/{study}/gates/{exp}.log",
    benchmark:
        "logs/{study}/gates/{exp}.benchmark.tsv"
    params:
        plan=lambda w: shlex.quote(wf.experiment_gate_plan(config, w.exp)),
        enforce="true" if config["gates"]["enforce"] else "false",
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gates experiment --plan {params.plan}"
        " --enforce {params.enforce} --configs-dir results/{wildcards.study}/gates/configs"
        " --out {output.record}) > {log} 2>&1"


rule gates:
    input:
        records=wf.gate_records(config),
    output:
        summary="results/{study}/gates/gates.json",
    log:
        "logs/{study}/gates/gates.log",
    params:
        enforce="true" if config["gates"]["enforce"] else "false",
    shell:
        "wmvla gates summary {input.records} --enforce {params.enforce} --out {output.summary} > {log} 2>&1"
