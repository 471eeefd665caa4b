rule latents:
    input:
        loads=get_latents_inputs,
        preflight=after_preflight,
    output:
        cache=directory(paths.LATENT_CACHE),
    log:
        paths.log("latents"),
    benchmark:
        paths.benchmark("latents")
    retries: 2  # the build resumes from its last complete shard (e.g. after preemption)
    threads: config["resources"]["latents"]["cpus"]
    resources:
        **get_resources("latents"),
    params:
        args=get_latents_args,
        hub=get_hub_manifests,
    shell:
        job("wmvla latents build {params.args} --out {output.cache}")
