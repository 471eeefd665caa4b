rule eval_lerobot:
    input:
        train=rules.train.output.train,
        models=lambda w: wf.eval_inputs(config, w.exp),
    output:
        result="results/{suite}/{exp}/seed{seed}/eval/{mode}.json",
        raw=directory("results/{suite}/{exp}/seed{seed}/eval/{mode}.lerobot"),
    log:
        "logs/{suite}/{exp}/seed{seed}/eval_{mode}.log",
    benchmark:
        "logs/{suite}/{exp}/seed{seed}/eval_{mode}.benchmark.tsv"
    threads: config["resources"]["eval"]["cpus"]
    resources:
        **get_resources("eval"),
    params:
        args=get_eval_args,
        checkpoint=lambda w: wf.checkpoint_dir(w.suite, w.exp, w.seed),
    shell:
        "(lerobot-eval {params.args} --output_dir={output.raw}"
        " && wmvla eval import-lerobot --eval-info {output.raw}/eval_info.json"
        " --checkpoint {params.checkpoint} --suite {wildcards.suite} --mode {wildcards.mode}"
        " --seed {wildcards.seed} --out {output.result}"
        ") > {log} 2>&1"
