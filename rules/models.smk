rule tiny_model:
    output:
        model=directory(paths.TINY_MODEL),
    log:
        paths.log("tiny_model"),
    shell:
        local_job("wmvla models tiny --model {wildcards.model} --out {output.model}")
