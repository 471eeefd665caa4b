rule latents:
    input:
        loads=get_latents_inputs,
        preflight=after_preflight,
    output:
        cache=directory("results/{study}/latents/{dataset}/{encoder}_m{window}"),
    log:
        "logs/{study}/latents/{dataset}/{encoder}_m{window}.log",
    benchmark:
        "logs/{study}/latents/{dataset}/{encoder}_m{window}.benchmark.tsv"
    retries: 2  # the build resumes from its last complete shard (e.g. after preemption)
    threads: config["resources"]["latents"]["cpus"]
    resources:
        **get_resources("latents"),
    params:
        args=get_latents_args,
        hub=get_hub_manifests,
    shell:
        "(wmvla hub check {params.hub} && wmvla gpu-run --gpus {resources.gpu} -- wmvla latents build {params.args} --out {output.cache}"
        ") > {log} 2>&1"
