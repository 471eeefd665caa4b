"""The Hub lock: every Hub artifact of a study pinned to a commit, in a file that lives in git.

Why: compute nodes often have no internet, a hundred jobs hitting the Hub at once get rate-limited, and a
branch that moves between two jobs silently trains arms on different weights. So every Hub artifact the
study config names (dataset, init policy, VLM, world encoder) is resolved once to a commit sha —
`wmvla hub lock`, written to `config/hub.lock.yaml`, committed to git — and fetched once, by the `hub`
stage on the submitting host, into `results/<study>/hub/` in the standard Hugging Face cache layout. Every
other job runs with `HF_HUB_OFFLINE=1` and loads each artifact from its snapshot directory
`results/<study>/hub/<models|datasets>--<owner>--<name>/snapshots/<sha>/`: the sha is in every command.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from wmvla.errors import WmvlaError
from wmvla.files import write_text

log = logging.getLogger(__name__)

DEFAULT_LOCK = Path("config/hub.lock.yaml")
UNLOCKED = "UNLOCKED"  # stands for a sha in a dry run's plan when the lock is missing or stale
LOCK_HEADER = """\
# Hub artifacts of each study pinned to commits. Written by `wmvla hub lock <study config>` (the only
# command besides the hub stage that needs the network); commit it, so every run and clone loads the same
# weights and data. Edit the config's revisions, never this file.
"""


class HubError(WmvlaError, RuntimeError):
    """The lock is missing or stale, or an artifact is missing from the offline cache."""


@dataclass(frozen=True)
class Artifact:
    """One Hub repository a study loads, and which of its files the jobs need."""

    key: str  # what the config calls it: dataset, policy.init, policy.vlm, encoder.<name>
    repo_id: str
    repo_type: str  # "model" or "dataset"
    revision: str  # as configured: a branch, tag or commit
    files: tuple[str, ...]  # allow-patterns (fnmatch; `*` spans directories)

    @property
    def folder(self) -> str:
        """The repository's folder in a Hugging Face cache (huggingface_hub's `repo_folder_name`)."""
        return f"{self.repo_type}s--" + self.repo_id.replace("/", "--")


def is_hub_id(ref: str | None) -> bool:
    """`owner/name` that is not an existing local directory."""
    if not ref or Path(ref).exists() or ref.startswith((".", "/")):
        return False
    parts = ref.split("/")
    return len(parts) == 2 and all(parts)


def read_lock(path: Path, study: str) -> dict[str, dict[str, str]] | None:
    """The study's locked entries (key → repo_id, repo_type, revision, sha), or None if it has none."""
    path = Path(path)
    if not path.is_file():
        return None
    studies = yaml.safe_load(path.read_text()) or {}
    return studies.get(study)


def lock_problems(
    artifacts: list[Artifact], entries: dict[str, dict[str, str]] | None, lock: Path
) -> list[str]:
    """Why the lock does not pin exactly these artifacts (one line each), or [] if it does."""
    fix = f"run `wmvla hub lock <study config>` where the Hub is reachable and commit {lock}"
    if not artifacts:
        return []
    if entries is None:
        return [f"{lock} pins no artifact of this study ({', '.join(a.key for a in artifacts)}): {fix}"]
    problems = []
    for artifact in artifacts:
        entry = entries.get(artifact.key)
        if entry is None:
            problems.append(f"{artifact.key} ({artifact.repo_id}) is not in {lock}: {fix}")
            continue
        for field in ("repo_id", "repo_type", "revision"):
            if entry.get(field) != getattr(artifact, field):
                problems.append(
                    f"{artifact.key}: the config says {field}={getattr(artifact, field)!r}, {lock} was "
                    f"written for {entry.get(field)!r}: {fix}"
                )
        if not entry.get("sha"):
            problems.append(f"{artifact.key}: {lock} has no commit sha: {fix}")
    unknown = sorted(set(entries) - {a.key for a in artifacts})
    problems += [f"{lock} pins {key}, which the config does not name: {fix}" for key in unknown]
    return problems


def locked_sha(entries: dict[str, dict[str, str]] | None, artifact: Artifact) -> str:
    entry = (entries or {}).get(artifact.key) or {}
    return entry.get("sha") or UNLOCKED


def snapshot_dir(cache: Path, artifact: Artifact, sha: str) -> Path:
    """Where the cache holds `artifact` at commit `sha` (the path every job loads it from)."""
    return Path(cache) / artifact.folder / "snapshots" / sha


def snapshot_revision(path: Path | str) -> str | None:
    """The commit a directory holds if it is a Hub snapshot (`…/snapshots/<sha>`), else None."""
    path = Path(path)
    return path.name if path.parent.name == "snapshots" else None


def repo_page(artifact: Artifact) -> str:
    """The repository's page on the Hub the client talks to (`HF_ENDPOINT`: an institute's mirror)."""
    from huggingface_hub import constants

    kind = "" if artifact.repo_type == "model" else f"{artifact.repo_type}s/"
    return f"{constants.ENDPOINT.rstrip('/')}/{kind}{artifact.repo_id}"


def hub_failure(artifact: Artifact, revision: str, doing: str, err: Exception) -> HubError:
    """One line for a failed Hub request. A refusal (HTTP 401/403: a gated repository whose licence the
    token's account has not accepted, a private one, no token, or an id the Hub does not know) names the page
    where a licence is accepted and `HF_TOKEN`; anything else its first line."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    what = f"{artifact.key} {artifact.repo_id}@{revision}"
    if isinstance(err, GatedRepoError) or (isinstance(err, HfHubHTTPError) and status in (401, 403)):
        return HubError(
            f"cannot {doing} {what}: the Hub refused access (HTTP {status}); if the repository is gated, "
            f"accept its licence at {repo_page(artifact)} with your account and export HF_TOKEN=<a read "
            "token of that account>; else check the repository id and that your token may read it"
        )
    first = next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return HubError(f"cannot {doing} {what}: {first}")


def resolve_lock(artifacts: list[Artifact]) -> dict[str, dict[str, str]]:
    """Resolve each configured revision to its commit on the Hub (network)."""
    from huggingface_hub import HfApi

    api, entries = HfApi(), {}
    for artifact in artifacts:
        try:
            sha = api.repo_info(
                artifact.repo_id, repo_type=artifact.repo_type, revision=artifact.revision
            ).sha
        except Exception as err:  # offline, unknown repo or revision, no permission: one clear line
            raise hub_failure(artifact, artifact.revision, "resolve", err) from err
        log.info("%s: %s@%s is commit %s", artifact.key, artifact.repo_id, artifact.revision, sha)
        entries[artifact.key] = {
            "repo_id": artifact.repo_id,
            "repo_type": artifact.repo_type,
            "revision": artifact.revision,
            "sha": sha,
        }
    return entries


def write_lock(path: Path, study: str, entries: dict[str, dict[str, str]]) -> Path:
    """Replace the study's section of the lock file, keeping the other studies' sections."""
    path = Path(path)
    studies = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    studies[study] = entries
    return write_text(path, LOCK_HEADER + yaml.safe_dump(studies, sort_keys=True))
