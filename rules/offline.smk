rule offline_check:
    input:
        train=rules.train.output.train,
        loads=lambda w: list(offline_loads(w.exp)),
        gates=after_gates,
    output:
        result=paths.OFFLINE,
    log:
        paths.log("offline_check"),
    benchmark:
        paths.benchmark("offline_check")
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_offline_args,
        hub=get_hub_manifests,
    shell:
        job("wmvla eval offline {params.args} --out {output.result}")
