rule gate_parity:
    input:
        loads=wf.init_inputs(config),
    output:
        record="results/{study}/gates/parity.json",
        configs=directory("results/{study}/gates/configs"),
    log:
        "logs/{study}/gates/parity.log",
    benchmark:
        "logs/{study}/gates/parity.benchmark.tsv"
    params:
        plan=lambda w: shlex.quote(wf.parity_plan(config)),
        baseline=wf.baseline(config),
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gates parity --plan {params.plan} --baseline {params.baseline}"
        " --configs-dir {output.configs} --out {output.record}) > {log} 2>&1"


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
