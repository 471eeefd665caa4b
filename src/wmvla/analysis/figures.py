"""The study's figures (DESIGN.md §6), drawn with seaborn from the tables in `results/tables/`.

Every figure says what it shows in its title and axes, uses one colour per experiment throughout
(in config order), and is written as PNG (to look at) and SVG (to print).
"""

from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.ticker

matplotlib.use("Agg")  # files only; never a display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from wmvla.errors import WmvlaError

LABELS = {
    "loss_total": "total loss (action + λ·world)",
    "world_loss": "world loss (1 − cos)",
    "world_cos": "cos(ẑ, z) of predicted futures",
    "world_gate": "F1 gate tanh(g)",
    "world_gate_suffix_in": "F2 gate tanh(g)",
    "world_gate_prefix": "F3a gate tanh(g)",
    "world_gate_prefix_cross": "F3b gate tanh(g)",
    "world_attn_entropy": "attention entropy over memory (nats)",
    "world_attn_pmax": "largest attention weight",
}
CURVES = ["loss_total", "world_loss", "world_cos", "world_gate"]
CURVES += ["world_gate_suffix_in", "world_gate_prefix", "world_gate_prefix_cross"]
ATTENTION = ["world_attn_entropy", "world_attn_pmax"]


class FigureDataError(WmvlaError, ValueError):
    """A figure was asked for but the tables hold nothing for it to show."""


def palette(experiments: list[str]) -> dict[str, tuple]:
    return dict(zip(experiments, sns.color_palette("colorblind", len(experiments)), strict=True))


def _save(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _need(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise FigureDataError(f"no data for {what}")
    return frame


def _suites(frame: pd.DataFrame) -> list[str]:
    suites = sorted(set(frame["suite"]) - {"all"})
    return suites + (["all"] if "all" in set(frame["suite"]) else [])


def sr_by_experiment(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    """Success rates per suite (top) and, where the study has a baseline, each arm's run-level difference from
    it in that suite (bottom): where an effect is, not only whether."""
    exps = _need(tables["experiments"].query("mode == 'pred'"), "success rates per experiment")
    runs = tables["runs"].query("mode == 'pred'")
    paired = tables["paired"].query("mode == 'pred'") if not tables["paired"].empty else tables["paired"]
    suites = _suites(exps)
    rows_of_panels = 2 if not paired.empty else 1
    fig, axes = plt.subplots(
        rows_of_panels,
        len(suites),
        figsize=(1.6 + 1.3 * len(colours) * len(suites), 4 + 2.6 * (rows_of_panels - 1)),
        squeeze=False,
    )
    for ax, suite in zip(axes[0], suites, strict=True):
        rows = (
            exps[exps["suite"] == suite]
            .set_index("exp")
            .reindex([e for e in colours if e in set(exps["exp"])])
        )
        x = np.arange(len(rows))
        err = [rows["sr"] - rows["ci_low"], rows["ci_high"] - rows["sr"]]
        ax.bar(x, rows["sr"], color=[colours[e] for e in rows.index], alpha=0.85)
        ax.errorbar(x, rows["sr"], yerr=err, fmt="none", ecolor="black", capsize=4, lw=1)
        seeds = runs if suite == "all" else runs[runs["suite"] == suite]
        for i, exp in enumerate(rows.index):
            per_seed = seeds.loc[seeds["exp"] == exp, "sr"]
            ax.scatter(np.full(len(per_seed), i) + 0.18, per_seed, s=14, color="black", zorder=3)
            tau = rows.loc[exp].get("between_run_sd", np.nan)
            spread = "" if pd.isna(tau) else f"\nτ={tau:.3f}"
            ax.annotate(f"n={int(rows.loc[exp, 'n_episodes'])}{spread}", (i, 1.02), ha="center", fontsize=8)
        ax.set(xticks=x, xticklabels=rows.index, ylim=(0, 1.1), title=suite, xlabel="experiment")
        ax.set_ylabel("success rate")
    if not paired.empty:
        reference = paired["ref_exp"].iloc[0]
        for ax, suite in zip(axes[1], suites, strict=True):
            rows = paired[paired["suite"] == suite]
            if rows.empty:
                ax.set_axis_off()
                continue
            _interval_plot(rows, _short_p, colours, ax, capsize=3)
            ax.set(title=f"{suite}: Δ vs {reference}", xlabel="Δ success rate (95% CI, runs)")
            if ax is not axes[1][0]:
                ax.sharex(axes[1][0])  # one scale: the suites' differences compare at a glance
    fig.suptitle(
        "LIBERO success rate per experiment\n"
        "(bars: all episodes pooled, Wilson 95% CI; dots: single runs, one per suite × seed;\n"
        "τ: between-run sd of the success rate beyond episode noise"
        + (
            "; bottom: paired difference from the baseline per suite, with its adjusted p)"
            if not paired.empty
            else ")"
        )
    )
    fig.tight_layout()
    return fig


def sr_per_task(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    tasks = _need(tables["tasks"].query("mode == 'pred'"), "per-task success rates")
    suites = _suites(tasks)
    fig, axes = plt.subplots(
        len(suites), 1, figsize=(10, 1.2 + (0.8 + 0.5 * tasks["exp"].nunique()) * len(suites)), squeeze=False
    )
    for ax, suite in zip(axes[:, 0], suites, strict=True):
        rows = tasks[tasks["suite"] == suite]
        grid = rows.pivot(index="exp", columns="task_id", values="sr")
        grid = grid.reindex([e for e in colours if e in grid.index])
        sns.heatmap(
            grid,
            ax=ax,
            vmin=0,
            vmax=1,
            cmap="viridis",
            annot=True,
            fmt=".2f",
            cbar_kws={"label": "success rate"},
            linewidths=0.5,
        )
        n = rows["n_episodes"]
        per_cell = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
        ax.set(
            title=f"{suite}: episodes per cell {per_cell} (all seeds)", xlabel="task id", ylabel="experiment"
        )
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    fig.suptitle("Success rate per task (rollouts with the predicted memory, as trained)")
    fig.tight_layout()
    return fig


def _interval_plot(
    rows: pd.DataFrame,
    label: Callable,
    colours: dict,
    ax: plt.Axes,
    x="diff",
    low="diff_ci_low",
    high="diff_ci_high",
    **style,
) -> None:
    y = np.arange(len(rows))
    style = {"fmt": "o", "capsize": 4, **style}
    for i, (_, row) in enumerate(rows.iterrows()):
        below, above = row[x] - row[low], row[high] - row[x]  # NaN: no run-level interval (one seed)
        ax.errorbar(
            row[x],
            i,
            xerr=[[0.0 if pd.isna(below) else below], [0.0 if pd.isna(above) else above]],
            color=colours.get(row["exp"], "black"),
            **style,
        )
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set(yticks=y, yticklabels=[label(r) for _, r in rows.iterrows()], ylim=(-0.6, len(rows) - 0.4))
    ax.invert_yaxis()


def rollout_ablations(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    ablations = _need(tables["ablations"], "rollout ablations (an experiment with eval modes besides pred)")
    suites = _suites(ablations)
    per_suite = ablations.groupby("suite").size().max()
    fig, axes = plt.subplots(
        1, len(suites), figsize=(4.5 * len(suites), 2.2 + 0.6 * per_suite), squeeze=False
    )
    for ax, suite in zip(axes[0], suites, strict=True):
        rows = ablations[ablations["suite"] == suite]
        _interval_plot(
            rows,
            lambda r: f"{r['exp']}: memory {r['mode']}\n({_run_p(r)})",
            colours,
            ax,
        )
        ax.set(title=suite, xlabel="Δ success rate vs. predicted memory", xlim=(-1.05, 1.05))
    fig.suptitle(
        "Rollout ablations: the memory replaced at evaluation\n"
        "(paired on init states; 95% CI and p over training runs, the unit of replication)"
    )
    fig.tight_layout()
    return fig


def _run_p(row: pd.Series) -> str:
    """The run-level adjusted p-value of a comparison, or why there is none."""
    if pd.isna(row["p_runs"]):
        return f"{int(row['n_runs'])} run pair(s): no run-level test"
    return f"{int(row['n_runs'])} run pairs, adjusted p={row['p_adj']:.2g}"


def _short_p(row: pd.Series) -> str:
    """An arm and its adjusted p, short enough for a narrow panel."""
    p = "no test" if pd.isna(row["p_runs"]) else f"adj. p {row['p_adj']:.2g}"
    return f"{row['exp']}\n{p}"


def _arm_label(row: pd.Series) -> str:
    memory = "" if row["mode"] == "pred" else f" · memory {row['mode']}"
    return f"{row['exp']}{memory}\n({_run_p(row)})"


def forest(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    """Every arm's paired difference from the baseline, with its 95% and its multiplicity-adjusted CI."""
    paired = _need(tables["paired"], "paired comparisons with the baseline")
    suites = _suites(paired)
    per_suite = paired.groupby("suite").size().max()
    fig, axes = plt.subplots(
        1, len(suites), figsize=(4.8 * len(suites), 2.0 + 0.55 * per_suite), sharex=True, squeeze=False
    )
    reference, margin = paired["ref_exp"].iloc[0], float(paired["margin"].iloc[0])
    for ax, suite in zip(axes[0], suites, strict=True):
        rows = paired[paired["suite"] == suite]
        ax.axvspan(-margin, margin, color="grey", alpha=0.15, lw=0)
        _interval_plot(
            rows,
            _arm_label,
            colours,
            ax,
            low="diff_ci_low_adj",
            high="diff_ci_high_adj",
            lw=1,
            capsize=0,
            alpha=0.6,
        )
        _interval_plot(rows, _arm_label, colours, ax, lw=3, capsize=0)
        ax.set(title=suite, xlabel=f"Δ success rate vs. {reference}")
    fig.suptitle(
        f"Paired differences from {reference} (identical episodes; the training run the unit)\n"
        f"thick: 95% CI · thin: Bonferroni-adjusted CI of the family · shaded: ±{margin} equivalence margin"
    )
    fig.tight_layout()
    return fig


def _curves(training: pd.DataFrame, metrics: list[str], colours: dict, title: str) -> plt.Figure:
    present = [m for m in metrics if m in set(training["metric"])]
    if not present:
        raise FigureDataError(f"no training logs of {', '.join(metrics)}")
    data = training[training["metric"].isin(present)]
    fig, axes = plt.subplots(1, len(present), figsize=(3.8 * len(present), 3.4), squeeze=False)
    exps = [e for e in colours if e in set(data["exp"])]
    for ax, metric in zip(axes[0], present, strict=True):
        rows = data[data["metric"] == metric]
        sns.lineplot(
            rows,
            x="step",
            y="value",
            hue="exp",
            style="exp",  # dashes too: runs that log the same values (e.g. E1/E2 world loss) stay visible
            hue_order=exps,
            style_order=exps,
            palette=colours,
            errorbar="sd",
            ax=ax,
            legend=ax is axes[0][-1],
        )
        ax.set(title=LABELS.get(metric, metric), xlabel="training step", ylabel="")
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), title="experiment")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    return _curves(
        tables["training_log"],
        CURVES,
        colours,
        "Training curves of smolvla_world runs (mean ± sd over suites and seeds; E0 logs no world metrics)",
    )


def attention(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    return _curves(
        tables["training_log"],
        ATTENTION,
        colours,
        "Where the action expert looks in the world memory (F1 cross-attention)",
    )


def imagination_bank(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    log = tables["training_log"]
    hyp = log[log["metric"].str.fullmatch(r"world_attn_hyp\d+")]
    hyp = _need(
        hyp.assign(hypothesis=hyp["metric"].str.removeprefix("world_attn_hyp").astype(int)),
        "imagination-bank attention (runs with world_num_hypotheses > 1)",
    )
    exps = [e for e in colours if e in set(hyp["exp"])]
    fig, axes = plt.subplots(1, len(exps), figsize=(4.2 * len(exps), 3.4), squeeze=False, sharey=True)
    for ax, exp in zip(axes[0], exps, strict=True):
        rows = hyp[hyp["exp"] == exp]
        n = rows["hypothesis"].nunique()
        sns.lineplot(rows, x="step", y="value", hue="hypothesis", palette="crest", errorbar="sd", ax=ax)
        ax.axhline(1 / n, color="grey", lw=1, ls="--", label="uniform")
        ax.set(title=f"{exp} ({n} hypotheses)", xlabel="training step", ylabel="share of F1 attention")
    fig.suptitle("Imagination bank: attention mass on each hypothesis (dashed: uniform)")
    fig.tight_layout()
    return fig


OFFLINE_MODES = ["oracle", "zero", "shuffle", "random"]


def offline_memory_modes(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    offline = tables["offline"]
    rows = _need(offline[offline["action_loss_minus_pred"].notna()], "offline checks of smolvla_world runs")
    arms = [
        (e, m) for e in colours for m in OFFLINE_MODES if ((rows["exp"] == e) & (rows["mode"] == m)).any()
    ]
    runs = rows[["suite", "seed"]].drop_duplicates().sort_values(["suite", "seed"]).reset_index(drop=True)
    offsets = np.linspace(-0.25, 0.25, len(runs)) if len(runs) > 1 else np.zeros(1)
    fig, ax = plt.subplots(figsize=(7.5, 1.6 + 0.5 * len(arms)))
    for y, (exp, mode) in enumerate(arms):
        arm = rows[(rows["exp"] == exp) & (rows["mode"] == mode)]
        for i, run in runs.iterrows():
            hit = arm[(arm["suite"] == run["suite"]) & (arm["seed"] == run["seed"])]
            for _, r in hit.iterrows():
                err = [
                    [r["action_loss_minus_pred"] - r["ci_low"]],
                    [r["ci_high"] - r["action_loss_minus_pred"]],
                ]
                ax.errorbar(
                    r["action_loss_minus_pred"],
                    y + offsets[i],
                    xerr=err,
                    fmt="o",
                    ms=4,
                    capsize=3,
                    color=colours.get(exp, "black"),
                )
    ax.axvline(0, color="grey", lw=1, ls="--")
    ax.set(yticks=range(len(arms)), yticklabels=[f"{e}: {m}" for e, m in arms], ylim=(-0.6, len(arms) - 0.4))
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.2g}"))  # no offset text
    ax.set_xlabel("held-out action loss with this memory − with the predicted one  (< 0: it helps)")
    ax.set_title(
        "Offline check: the true future (oracle) should help, shuffled/random memory should not\n"
        f"(one point per run, {len(runs)} run(s): suite × seed; paired bootstrap 95% CI over frames)"
    )
    fig.tight_layout()
    return fig


def cost(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    """Time per job by rule: what the study expected (forecast from the gates' rates, or its runtime limit)
    beside what its jobs took (their benchmark files)."""
    table = _need(tables["cost"], "the cost table (`wmvla cost --csv`)")
    rows = _need(table[table["seconds"].notna()], "a cost table with expected job times")
    rows = rows.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.35 * len(rows)))
    styles = {"forecast": ("tab:blue", ""), "limit": ("lightgrey", "//"), "measured": ("tab:blue", "")}
    for y, r in rows.iterrows():
        colour, hatch = styles.get(r["source"], ("lightgrey", ""))
        ax.barh(y, r["seconds"] / 60, color=colour, hatch=hatch, edgecolor="grey", height=0.6)
        if pd.notna(r["measured_s"]):
            ax.plot(r["measured_s"] / 60, y, "kD", ms=6)
    ax.set(
        yticks=range(len(rows)),
        yticklabels=[f"{r} ({n})" for r, n in zip(rows["rule"], rows["jobs"], strict=True)],
    )
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("minutes per job (log scale)")
    handles = [
        matplotlib.patches.Patch(color="tab:blue", label="forecast from the gates' rates"),
        matplotlib.patches.Patch(facecolor="lightgrey", hatch="//", edgecolor="grey", label="runtime limit"),
        matplotlib.lines.Line2D([], [], color="black", marker="D", ls="", label="measured (mean)"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    ax.set_title("Cost per job: forecast (or limit) vs measured, by rule (jobs)")
    fig.tight_layout()
    return fig


def perturbations(tables: dict[str, pd.DataFrame], colours: dict) -> plt.Figure:
    """Success rate per perturbation, plain first, per suite and arm: where E2 and E0 part, and where a
    perturbation leaves no headroom (floor, ceiling)."""
    rates = _need(tables["perturbation_rates"], "success rates under perturbation (no perturbation axis)")
    suites, kinds = _suites(rates), list(dict.fromkeys(rates["perturbation"]))
    arms = [e for e in colours if e in set(rates["exp"])]
    fig, axes = plt.subplots(1, len(suites), figsize=(1.5 + 1.2 * len(kinds) * len(suites), 4), squeeze=False)
    for ax, suite in zip(axes[0], suites, strict=True):
        for i, exp in enumerate(arms):
            rows = rates[(rates["suite"] == suite) & (rates["exp"] == exp)].set_index("perturbation")
            rows = rows.reindex(kinds)
            x = np.arange(len(kinds)) + (i - (len(arms) - 1) / 2) * 0.8 / len(arms)
            err = [rows["sr"] - rows["ci_low"], rows["ci_high"] - rows["sr"]]
            ax.errorbar(x, rows["sr"], yerr=err, fmt="o", color=colours[exp], capsize=3, label=exp)
        bounds = rates[rates["suite"] == suite].groupby("perturbation")["bound"].first().reindex(kinds)
        labels = [k if not isinstance(b, str) or not b else f"{k}\n({b})" for k, b in bounds.items()]
        ax.set(xticks=range(len(kinds)), xticklabels=labels, ylim=(-0.05, 1.05), title=suite)
        ax.set(xlabel="perturbation (LIBERO-PRO)", ylabel="success rate")
    axes[0][-1].legend(fontsize="small")
    fig.suptitle("Success rate under perturbation, plain LIBERO first\n(all episodes pooled, Wilson 95% CI)")
    fig.tight_layout()
    return fig


DRAWERS: dict[str, Callable[[dict[str, pd.DataFrame], dict], plt.Figure]] = {
    "sr_by_experiment": sr_by_experiment,
    "sr_per_task": sr_per_task,
    "rollout_ablations": rollout_ablations,
    "training_curves": training_curves,
    "attention": attention,
    "imagination_bank": imagination_bank,
    "offline_memory_modes": offline_memory_modes,
    "forest": forest,
    "perturbations": perturbations,
    "cost": cost,
}


def draw(
    names: list[str], tables: dict[str, pd.DataFrame], experiments: list[str], out_dir: Path
) -> list[Path]:
    unknown = sorted(set(names) - set(DRAWERS))
    if unknown:
        raise FigureDataError(f"unknown figure(s) {unknown}; known: {', '.join(DRAWERS)}")
    sns.set_theme(style="whitegrid", context="notebook")
    colours = palette(experiments)
    return [path for name in names for path in _save(DRAWERS[name](tables, colours), Path(out_dir), name)]
