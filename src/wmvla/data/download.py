"""Download a LeRobot-format LIBERO dataset from the Hub at a pinned revision.

Why pinned: the Hub datasets are re-exported from time to time; an unpinned download makes two
runs of the same config train on different data.
"""

import logging
import re
from pathlib import Path

from wmvla.errors import WmvlaError

log = logging.getLogger(__name__)

COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


class DatasetDownloadError(WmvlaError, RuntimeError):
    """The dataset could not be fetched (offline, unknown id/revision, no permission)."""


def download_dataset(repo_id: str, revision: str, out_dir: Path) -> tuple[Path, str]:
    """Snapshot `repo_id@revision` into `out_dir`; returns the path and the commit sha used.

    A branch or tag is resolved to its commit first (logged as a warning) so the files and the
    recorded provenance always refer to one immutable revision. Resumable: finished files are kept.
    """
    import httpx
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        sha = revision
        if not COMMIT_SHA.match(revision):
            sha = HfApi().dataset_info(repo_id, revision=revision).sha
            log.warning("%s: revision %r resolved to %s; pin it in the config", repo_id, revision, sha)
        path = snapshot_download(repo_id=repo_id, repo_type="dataset", revision=sha, local_dir=str(out_dir))
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, httpx.TransportError) as err:
        raise DatasetDownloadError(
            f"cannot download {repo_id}@{revision}: the Hub is unreachable or HF_HUB_OFFLINE=1 "
            f"({type(err).__name__}). On an offline machine use the smoke config, which records "
            "its dataset in the simulator, or copy the dataset into place and `dvc add` it."
        ) from err
    except HfHubHTTPError as err:
        raise DatasetDownloadError(f"cannot download {repo_id}@{revision}: {err}") from err
    log.info("downloaded %s@%s to %s", repo_id, sha, path)
    return Path(path), sha
