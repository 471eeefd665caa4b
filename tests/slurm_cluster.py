"""A one-node Slurm cluster of this test's own, on this machine: MUNGE, slurmctld and slurmd (Debian's
slurm-wlm), two fake GPU devices, a partition named as the mi300x profile expects.

Everything lives under one temporary directory — configuration, state, sockets, logs — and listens on ports
chosen free at start; `stop()` ends exactly the daemons it started (by PID). A Slurm the machine already
runs is never touched: clients find this cluster through `SLURM_CONF`, which only the test's processes get,
and slurmd's jobs through a bind mount on /etc/slurm that exists only in slurmd's own mount namespace.
No accounting daemon: the project's profiles poll job states with `squeue` (see profiles/mi300x), which reads
slurmctld; `sacct` here fails as it does on a cluster without accounting.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
PARTITION = "mi300x"  # what profiles/mi300x names (commented) and the smoke profile test sets
FAKE_GPUS = 2


def missing_binaries() -> list[str]:
    needed = (*DAEMONS, "unshare", "mungekey", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
    return [name for name in needed if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class SlurmCluster:
    root: Path
    cpus: int = 2
    memory_mb: int = 16000
    min_job_age: int = 300  # seconds a finished job stays visible to squeue
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to use this cluster (and no other)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_config(self) -> None:
        etc, state = self.root / "etc", self.root / "state"
        for d in (etc, state, self.root / "spool", self.root / "log", self.root / "run", self.root / "munge"):
            d.mkdir(parents=True, exist_ok=True)
        devices = []
        for i in range(FAKE_GPUS):  # slurmd drops a GPU GRES without device files; char devices will do
            device = self.root / "dev" / f"fakegpu{i}"
            device.parent.mkdir(exist_ok=True)
            if not device.exists():
                os.mknod(device, 0o666 | 0o020000, os.makedev(1, 3))
            devices.append(str(device))
        run, log = self.root / "run", self.root / "log"
        self.conf.write_text(
            f"""ClusterName=wmvla-test
SlurmctldHost={self.host}
SlurmUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={self.root / "munge" / "munge.socket"}
CredType=cred/munge
StateSaveLocation={state}
SlurmdSpoolDir={self.root / "spool"}
SlurmctldPidFile={run / "slurmctld.pid"}
SlurmdPidFile={run / "slurmd.pid"}
SlurmctldLogFile={log / "slurmctld.log"}
SlurmdLogFile={log / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MpiDefault=none
ReturnToService=2
MinJobAge={self.min_job_age}
JobRequeue=1
KillWait=10
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
NodeName={self.host} CPUs={self.cpus} RealMemory={self.memory_mb} Gres=gpu:{FAKE_GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
"""
        )
        (etc / "gres.conf").write_text(f"NodeName={self.host} Name=gpu File={','.join(devices)}\n")

    def _start(self, name: str, argv: list[str]) -> None:
        log = (self.root / "log" / f"{name}.out").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, timeout: float = 90) -> "SlurmCluster":
        self._write_config()
        munge = self.root / "munge"
        key = munge / "munge.key"
        if not key.exists():
            subprocess.run([_binary("mungekey"), "--create", f"--keyfile={key}"], check=True)
            key.chmod(0o600)
        munged = [_binary("munged"), "--foreground", "--force", f"--key-file={key}"]
        munged += [f"--socket={munge / 'munge.socket'}", f"--pid-file={munge / 'munged.pid'}"]
        munged += [f"--log-file={munge / 'munged.log'}", f"--seed-file={munge / 'munged.seed'}"]
        self._start("munged", munged)
        self._wait(lambda: (munge / "munge.socket").exists(), timeout, "munged to open its socket")
        self._start("slurmctld", [_binary("slurmctld"), "-D", "-c", "-f", str(self.conf)])
        self._wait(lambda: self.run(["scontrol", "ping"]).returncode == 0, timeout, "slurmctld to answer")
        # slurmd, and the jobs it runs, see this cluster's configuration at Slurm's default path, in a mount
        # namespace of their own: the executor's nested `srun` drops SLURM_CONF from its environment.
        daemon = f"{_binary('slurmd')} -D -f {self.conf} -N {self.host}"
        slurmd = f"mount --bind {self.conf.parent} /etc/slurm && exec {daemon}"
        self._start("slurmd", ["unshare", "--mount", "--propagation", "private", "sh", "-c", slurmd])
        self._wait(self._node_idle, timeout, f"node {self.host} to be idle")
        return self

    def _node_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%T"])
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited while waiting for {what}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"waited {timeout:.0f} s for {what}:\n{self.logs()}")

    def logs(self, tail: int = 30) -> str:
        parts = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60, **kwargs)

    def stop(self) -> None:
        """End exactly the daemons this cluster started, and their process groups (jobs' steps)."""
        for name in reversed(DAEMONS):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
