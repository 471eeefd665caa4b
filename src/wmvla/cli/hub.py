"""`wmvla hub …`: pin a study's Hub artifacts (lock), fetch one into the offline cache, check the cache."""

import argparse
import json
import logging
from pathlib import Path

from wmvla.cli.parsing import command, subgroup

log = logging.getLogger("wmvla")


def _lock(args: argparse.Namespace) -> None:
    from wmvla.hub.localize import check_init_names
    from wmvla.hub.lock import resolve_lock, write_lock
    from wmvla.study.artifacts import INIT_NAMES, study_artifacts
    from wmvla.study.config import load_study_config

    config = load_study_config(args.configfile)
    artifacts = study_artifacts(config)
    if not artifacts:
        log.info("study %s names no Hub artifact; nothing to lock", config["study"])
        return
    entries = resolve_lock(artifacts)
    init = next((a for a in artifacts if a.key == "policy.init"), None)
    if init is not None:  # what its saved files name must be locked too, or no job can load it offline
        named = [a.repo_id for a in artifacts if a.key in INIT_NAMES]
        check_init_names(init, entries[init.key]["sha"], named)
    write_lock(args.lock, config["study"], entries)
    log.info("pinned %d artifact(s) of study %s in %s; commit it", len(artifacts), config["study"], args.lock)


def _fetch(args: argparse.Namespace) -> None:
    from wmvla.data.checks import check_libero_dataset
    from wmvla.hub.fetch import fetch, write_manifest
    from wmvla.hub.lock import Artifact
    from wmvla.provenance import now, provenance_record

    started = now()
    entry = json.loads(args.entry)
    sha = entry.pop("sha")
    artifact = Artifact(**{**entry, "files": tuple(entry["files"])})
    manifest = fetch(artifact, sha, args.cache)
    if artifact.repo_type == "dataset":
        check_libero_dataset(manifest["snapshot"])  # fail here, not in 180 trainings
    size = sum(f["bytes"] for f in manifest["files"])
    log.info(
        "%s: %d files, %.2f GB in %s", artifact.key, len(manifest["files"]), size / 1e9, manifest["snapshot"]
    )
    write_manifest({**manifest, "provenance": provenance_record({"entry": args.entry}, started)}, args.out)


def _localize(args: argparse.Namespace) -> None:
    from wmvla.hub.localize import localize
    from wmvla.hub.lock import snapshot_revision
    from wmvla.provenance import now, write_provenance

    started = now()
    sha = snapshot_revision(args.source)
    what = f"the init checkpoint {args.source}" + (f" (commit {sha[:12]})" if sha else "")
    record = localize(args.source, args.out, json.loads(args.names), what)
    for item in record["renamed"]:
        log.info("%s %s: %s -> %s", item["file"], item["field"], item["from"], item["to"])
    write_provenance(args.out, {"source": str(args.source), "names": json.loads(args.names)}, started)


def _check(args: argparse.Namespace) -> None:
    from wmvla.hub.check import check_manifests

    check_manifests(args.manifests)


def register(groups: argparse._SubParsersAction) -> None:
    hub = subgroup(groups, "hub", "Hub artifacts: lock, fetch, check")
    p = command(hub, "lock", _lock, "pin every Hub artifact of a study to a commit (network)")
    p.add_argument("configfile", type=Path, help="the study config, e.g. config/config.yaml")
    p.add_argument("--lock", type=Path, default=Path("config/hub.lock.yaml"))
    p = command(hub, "fetch", _fetch, "download one locked artifact into the study's cache (network)")
    p.add_argument("--entry", required=True, help="JSON: the artifact and its locked sha")
    p.add_argument("--cache", type=Path, required=True, help="the study's Hugging Face cache")
    p.add_argument("--out", type=Path, required=True, help="the manifest the jobs check")
    p = command(
        hub, "localize", _localize, "the init checkpoint with what it names by Hub id resolved to snapshots"
    )
    p.add_argument(
        "--source", type=Path, required=True, help="the init checkpoint (a snapshot or a directory)"
    )
    p.add_argument("--names", required=True, help="JSON: Hub id -> the snapshot path jobs load it from")
    p.add_argument("--out", type=Path, required=True, help="the localized checkpoint (links + renamed JSON)")
    p = command(hub, "check", _check, "every fetched file of these artifacts is in the offline cache")
    p.add_argument("manifests", type=Path, nargs="*", help="manifests written by the hub stage")
