"""A real Hub server for the tests: olah (a self-hosted Hugging Face mirror, from PyPI) serving replica
repositories that the tests create, fully offline.

Why a real server: what the project must survive is how the Hub *client* leaves its cache — a fetch by commit
writes `snapshots/<sha>/` and `blobs/` but no `refs/` — and how it answers refusals; a cache written by hand
(with a `refs/main` the client never writes) hid that every job loading the init checkpoint's processors
stops offline. The stock `huggingface_hub` client talks to this server through `HF_ENDPOINT`, exactly as a
researcher's client talks to an institute's mirror.

Each replica is a git repository under `<root>/mirrors/<models|datasets>/<owner>/<name>` (olah serves local
git repositories as Hub repositories: `repo_info`, `snapshot_download` by branch or by commit). olah's limits,
as verified: a non-UTF-8 file of 121–149 bytes breaks its tree listing (`add` refuses such a fixture), and a
refused repository answers 401 as the Hub does for a gated one without a token (`denied`).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

OLAH_BAD_SIZES = range(121, 150)  # a non-UTF-8 file of these sizes is taken for an LFS pointer by olah


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=replica", "-c", "user.email=replica@wmvla.test", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def _is_text(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class HubServer:
    """olah on a free local port, serving the replica repositories added with `add`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.mirrors = self.root / "mirrors"
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.denied: tuple[str, ...] = ()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client needs to use this server instead of huggingface.co (and to be allowed online)."""
        return {"HF_ENDPOINT": self.endpoint, "HF_HUB_OFFLINE": "0"}

    def add(self, repo_type: str, repo_id: str, source: Path) -> str:
        """Publish the files of `source` as `repo_id` (a new commit on `main`); returns the commit sha."""
        repo = self.mirrors / f"{repo_type}s" / repo_id
        if repo.exists():
            shutil.rmtree(repo)
        shutil.copytree(source, repo, symlinks=False)
        for path in repo.rglob("*"):
            if path.is_file() and path.stat().st_size in OLAH_BAD_SIZES and not _is_text(path):
                raise ValueError(f"{path}: olah cannot serve a binary file of {path.stat().st_size} bytes")
        _git(repo, "init", "-q", "-b", "main")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", f"replica of {repo_id}")
        return _git(repo, "rev-parse", "HEAD")

    def _config(self) -> Path:
        rules = "".join(
            f'\n[[accessibility.proxy]]\nrepo = "{pattern}"\nallow = {allow}\n'
            for pattern, allow in (("*", "true"), ("*/*", "true"), *((r, "false") for r in self.denied))
        )  # the last matching rule decides
        config = self.root / "olah.toml"
        config.write_text(
            f'[basic]\nhost = "127.0.0.1"\nport = {self.port}\nrepos-path = "{self.root / "olah-cache"}"\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\nmirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            f'mirrors-path = ["{self.mirrors}"]\n\n[accessibility]\noffline = true\n{rules}'
        )
        return config

    def start(self, denied: tuple[str, ...] = ()) -> "HubServer":
        """Serve (again), refusing the repositories in `denied` as the Hub refuses a gated one."""
        self.stop()
        self.denied = denied
        self.mirrors.mkdir(parents=True, exist_ok=True)
        olah = shutil.which("olah-cli", path=str(Path(sys.executable).parent))
        assert olah, "olah-cli is not installed next to the test interpreter; run `make setup`"
        log = (self.root / "olah.log").open("a")
        self.process = subprocess.Popen(
            [olah, "-c", str(self._config())], cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.root / "olah.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"olah did not listen on port {self.port}: {(self.root / 'olah.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
