"""Which study an artifact belongs to, read from its provenance; refusing another study's artifacts."""

import json

import pytest

from wmvla.provenance import STUDY_ENV, write_provenance
from wmvla.study.ownership import ForeignArtifactError, artifact_study, check_owned


def test_provenance_names_the_study_of_the_job_that_wrote_it(tmp_path, monkeypatch):
    monkeypatch.setenv(STUDY_ENV, "full")
    write_provenance(tmp_path / "train", {"exp": "E2"}, "2026-01-01T00:00:00+00:00")
    assert artifact_study(tmp_path / "train") == "full"
    result = tmp_path / "pred.json"
    result.write_text(json.dumps({"episodes": [], "provenance": {"study": "smoke"}}))
    assert artifact_study(result) == "smoke"
    legacy = tmp_path / "legacy"  # provenance that names the study only inside its config
    legacy.mkdir()
    (legacy / "provenance.json").write_text(json.dumps({"config": {"study": "full"}}))
    assert artifact_study(legacy) == "full"


@pytest.mark.parametrize("content", [None, "not json", '{"config": "x"}', "[1, 2]"])
def test_artifacts_without_a_readable_study_belong_to_nobody(tmp_path, content):
    path = tmp_path / "artifact"
    path.mkdir()
    if content is not None:
        (path / "provenance.json").write_text(content)
    assert artifact_study(path) is None
    assert artifact_study(tmp_path / "missing") is None
    check_owned([path, tmp_path / "missing"], "smoke")


def test_check_owned_names_the_foreign_artifact_and_both_studies(tmp_path):
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    ours.write_text(json.dumps({"provenance": {"study": "smoke"}}))
    theirs.write_text(json.dumps({"provenance": {"study": "full"}}))
    check_owned([ours], "smoke")
    with pytest.raises(ForeignArtifactError, match=r"theirs.json was produced by study 'full', not 'smoke'"):
        check_owned([ours, theirs], "smoke")
