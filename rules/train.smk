rule train:
    input:
        dataset=wf.dataset_dir(config),
        models=lambda w: wf.train_inputs(config, w.exp),
        gates=ancient(wf.gates_file(config)),  # its existence gates training; a rerun of a gate does not
    output:
        train=directory("results/{study}/{suite}/{exp}/seed{seed}/train"),
    log:
        "logs/{study}/{suite}/{exp}/seed{seed}/train.log",
    benchmark:
        "logs/{study}/{suite}/{exp}/seed{seed}/train.benchmark.tsv"
    threads: config["resources"]["train"]["cpus"]
    resources:
        **get_resources("train"),
    params:
        args=get_train_args,
        run=get_run_description,
        split=shlex.join(wf.split_args(config, "train")),
    shell:
        "(started=$(date -u +%FT%T+00:00)"
        " && episodes=$(wmvla data episodes {input.dataset} --suite {wildcards.suite} {params.split})"
        ' && wmvla gpu-run --gpus {resources.gpu} -- lerobot-wm-train {params.args} "--dataset.episodes=$episodes" --output_dir={output.train}'
        " && wmvla provenance {output.train} --config {params.run} --started-at $started"
        ") > {log} 2>&1"
