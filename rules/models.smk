rule tiny_model:
    output:
        model=directory("results/{study}/models/{kind}-tiny"),
    log:
        "logs/{study}/models/{kind}-tiny.log",
    wildcard_constraints:
        kind="smolvlm|vjepa2|cosmos",
    shell:
        "wmvla models tiny --kind {wildcards.kind} --out {output.model} > {log} 2>&1"
