rule train:
    input:
        loads=lambda w: list(train_loads(w.exp)),
        gates=after_gates,
    output:
        train=directory(paths.TRAIN),
    log:
        paths.log("train"),
    benchmark:
        paths.benchmark("train")
    threads: config["resources"]["train"]["cpus"]
    resources:
        **get_resources("train"),
    params:
        args=get_train_args,
        run=get_run_description,
        episodes=get_train_run_args,
        hub=get_hub_manifests,
    shell:
        job(
            "wmvla train run {params.episodes} --run {params.run} --out {output.train} -- {params.args}"
        )
