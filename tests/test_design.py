"""What a config will answer (`wmvla design`) and the verdicts as one declaration each (DESIGN.md §9): the
full config's 16 arms and roles, its families' sizes as the analysis counts them, a duplicate and an empty
variant warned, an arm in two roles said so and counted once; a partial declaration refused in one line
naming what is missing, and a verdict added by its declaration alone in a planted study's report. In-process
and cheap; the dry runs of the partial changes are the README's recipe, not repeated here."""

import copy
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from wmvla.design import COMPARISON, RUN_UNIT, VERDICTS, VS_WORLD, Criterion, DesignError, role_fields
from wmvla.study.config import load_study_config
from wmvla.study.design import analysis_design, check_verdicts, design_warnings
from wmvla.study.overview import overview

V11 = Criterion(
    "V11", "Does a variant beat the world arm by more than 5 points?", ("world", "variants"), RUN_UNIT,
    COMPARISON, "tests.test_design.much_better", "variants", ((VS_WORLD, "variants"),),
)  # fmt: skip


def much_better(tables: dict[str, pd.DataFrame], design, exp: str):
    """The added verdict's function: found by its dotted path, as a declared verdict's is."""
    from wmvla.analysis.evidence import Evidence
    from wmvla.analysis.outcomes import INCONCLUSIVE, SUPPORTED, Verdict

    evidence = Evidence.of(tables["vs_world"], exp=exp, ref_exp=design.world)
    gain = evidence.scopes()[0][1]["diff"]
    verdict = SUPPORTED if gain > 0.05 else INCONCLUSIVE
    return Verdict(f"V11.{exp}", V11.question, "paired", evidence.numbers(), verdict, f"{gain:+.3f}")


@pytest.fixture(scope="module")
def full(repo) -> dict:
    return load_study_config(repo / "config/config.yaml")


def test_the_full_config_lists_its_arms_with_roles_and_its_families_sizes(full):
    """Every arm of the config (16 as shipped) with a role; each family's size is its members × the scopes
    of a comparison (overall + one per suite; the perturbation family two per kind) — the sizes the analysis
    tests are checked on a planted study below."""
    found = overview(full)
    roles = {arm["name"]: arm["roles"] for arm in found["arms"]}
    assert list(roles) == list(full["experiments"]) and all(roles.values())
    assert roles["E0"] == ["baseline"] and roles["E2_cosmos"] == ["encoder arm"]
    scopes = 1 + len(full["suites"])
    kinds = full["perturbations"]["kinds"]
    sizes = {f["name"]: f["tests"] for f in found["families"]}
    assert sizes["under perturbation"] == 2 * len(kinds) * scopes and sizes["E2 vs E1"] == scopes
    assert all(size % scopes == 0 for size in sizes.values())
    assert not found["warnings"]
    e2 = next(arm for arm in found["arms"] if arm["name"] == "E2")
    assert {"V4", "V5", "V10-lan", "V6 ×4"} <= set(e2["verdicts"])


def test_a_duplicate_arm_and_a_variant_that_changes_nothing_are_warned(full):
    config = copy.deepcopy(full)
    config["experiments"]["E2_bank4"] = copy.deepcopy(full["experiments"]["IB_dropout4"])
    config["experiments"]["E2_n1"] = {"policy_type": "smolvla_world", "eval_modes": ["pred", "zero"],
        "policy_args": {"world_memory_mode_train": "pred", "world_num_hypotheses": 1}}  # fmt: skip
    warned = "\n".join(design_warnings(config))
    assert "experiment E2_bank4 is the same arm as IB_dropout4" in warned
    assert "experiment E2_n1 differs from the world arm E2 in nothing" in warned
    assert "world_num_hypotheses: 1" in warned


def test_an_arm_in_two_roles_is_said_so_and_counted_once_per_family(full):
    config = copy.deepcopy(full)
    e2 = config["experiments"]["E2"]
    args = {**e2["policy_args"], "world_inject_suffix_in": True, "world_num_hypotheses": 4}
    config["experiments"]["F2_bank4"] = {**e2, "policy_args": args}
    found = overview(config)
    arm = next(a for a in found["arms"] if a["name"] == "F2_bank4")
    assert arm["roles"] == ["fusion ablation", "also imagination bank"] and arm["verdicts"] == ["V6.F2_bank4"]
    vs_e2 = next(f for f in found["families"] if f["name"] == "vs E2")
    assert vs_e2["members"].count("F2_bank4") == 1
    assert vs_e2["tests"] == len(vs_e2["members"]) * (1 + len(config["suites"]))


def test_the_family_sizes_are_those_the_analysis_tests(full):
    """A small planted study of the full design (2 suites, one perturbation): each table's family has the
    rows `wmvla design` counts."""
    from wmvla.analysis.planted import PlantedStudy
    from wmvla.analysis.report import verdict_tables

    config = copy.deepcopy(full) | {"suites": ["libero_spatial", "libero_10"], "seeds": [0, 1]}
    config["perturbations"]["kinds"] = ["lan"]
    design = analysis_design(config)
    arms = {exp: tuple(spec["eval_modes"]) for exp, spec in config["experiments"].items()}
    levels = {"libero_spatial": 0.8, "libero_10": 0.7}
    study = PlantedStudy(arms, levels=levels, seeds=2, tasks=2, init_states=6, perturbed={"lan": levels},
                         perturbed_arms=("E0", "E1", "E2"))  # fmt: skip
    tables = verdict_tables(study.episodes(np.random.default_rng(0)), design)
    rows = pd.concat([tables[t] for t in ("paired", "ablations", "vs_world", "perturbations")])
    counted = rows.groupby("family").size().to_dict()
    assert counted == {f["name"]: f["tests"] for f in overview(config)["families"]}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"unit": ""}, "verdict V11 (wmvla.design.VERDICTS) declares no unit"),
        ({"method": ""}, "verdict V11 (wmvla.design.VERDICTS) declares no method"),
        ({"function": "tests.test_design.nowhere"}, "names function tests.test_design.nowhere, which tests"),
        ({"roles": ("world", "horizons")}, "reads role 'horizons', which wmvla.design.Design has no field"),
        ({"compares": (("vs world", "variants"),)}, "compares in family 'vs world';"),
    ],
)
def test_a_partial_verdict_declaration_is_refused_in_one_line(monkeypatch, change, named):
    monkeypatch.setattr("wmvla.study.design.VERDICTS", (*VERDICTS, replace(V11, **change)))
    with pytest.raises(DesignError, match=named.replace("(", r"\(").replace(")", r"\)")) as err:
        check_verdicts(set(role_fields()))
    assert "\n" not in str(err.value)


def test_a_role_nobody_assigns_or_no_field_holds_is_refused_in_one_line():
    with pytest.raises(
        DesignError, match=r"Design has role 'variants', which wmvla\.study\.design assigns no arm"
    ):
        check_verdicts(set(role_fields()) - {"variants"})
    with pytest.raises(
        DesignError, match=r"assigns role 'horizons', which wmvla\.design\.Design has no field"
    ):
        check_verdicts({*role_fields(), "horizons"})


def test_a_verdict_added_by_its_declaration_alone_is_in_a_planted_studys_report(repo, monkeypatch):
    from wmvla.analysis.planted import PlantedStudy
    from wmvla.analysis.report import verdict_tables
    from wmvla.analysis.verdicts import verdicts

    for module in ("wmvla.design", "wmvla.study.design", "wmvla.analysis.verdicts"):
        monkeypatch.setattr(f"{module}.VERDICTS", (*VERDICTS, V11))
    config = load_study_config(repo / "config/smoke.yaml")
    e2 = config["experiments"]["E2"]
    config["experiments"]["E2_k4"] = {**e2, "policy_args": {**e2["policy_args"], "world_k": 4}}
    design = analysis_design(config)  # checks the declarations, V11 among them
    arms = {exp: tuple(spec["eval_modes"]) for exp, spec in config["experiments"].items()}
    study = PlantedStudy(arms, levels={"libero_spatial": 0.6}, seeds=3, tasks=4, init_states=25,
                         effect={("E2_k4", "pred"): {"libero_spatial": 0.2}})  # fmt: skip
    report = verdicts(verdict_tables(study.episodes(np.random.default_rng(1)), design), design)
    row = report.set_index("id").loc["V11.E2_k4"]
    assert row["verdict"] == "supported" and row["unit"] == RUN_UNIT and "Holm" in row["method"]
    assert list(report["id"])[-1] == "V11.E2_k4" and "V9.E2_k4" in set(report["id"])


def test_wmvla_design_prints_json_for_scripts_on_a_copy_of_the_config_anywhere(full, tmp_path, capsys):
    """A copy outside config/ is read with the project's schema; its warnings are in the JSON too."""
    import yaml

    from wmvla.cli import main

    config = copy.deepcopy(full)
    config["experiments"]["E2_bank4"] = copy.deepcopy(full["experiments"]["IB_dropout4"])
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["design", "--configfile", str(tmp_path / "mine.yaml"), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["arms"]) == len(full["experiments"]) + 1
    assert found["perturbations"]["kinds"] == full["perturbations"]["kinds"]
    assert found["warnings"] == [
        "experiment E2_bank4 is the same arm as IB_dropout4 (policy type, encoder and every setting after "
        "defaults; eval modes aside): its 38 jobs train and evaluate IB_dropout4's runs again; drop one (the "
        "one kept can carry both eval_modes)"
    ]
