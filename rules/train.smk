rule train:
    input:
        loads=lambda w: wf.train_inputs(config, w.exp),
        gate=lambda w: wf.experiment_gate(config, w.exp),
        gates=after_study_gates,
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
        dataset=wf.dataset_dir(config),
        hub=get_hub_manifests,
    shell:
        "(started=$(date -u +%FT%T+00:00)"
        " && wmvla hub check {params.hub}"
        " && episodes=$(wmvla data episodes {params.dataset} --suite {wildcards.suite} {params.split})"
        ' && wmvla gpu-run --gpus {resources.gpu} -- lerobot-wm-train {params.args} "--dataset.episodes=$episodes" --output_dir={output.train}'
        " && wmvla provenance {output.train} --config {params.run} --started-at $started"
        ") > {log} 2>&1"
