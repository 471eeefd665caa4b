rule tiny_model:
    output:
        model=directory(paths.TINY_MODEL),
    log:
        paths.log("tiny_model"),
    shell:
        LOCAL_JOB + " wmvla models tiny --kind {wildcards.kind} --out {output.model}"
