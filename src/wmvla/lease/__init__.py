"""A lease on a resumable directory: never two writers on one run, and never a run no later job can take.

Why: a training's `.partial` run, an evaluation's episode log and a latent cache build are resumed by whoever
runs the job next. If the Snakemake process that submitted a job dies while the job keeps running on Slurm,
a restarted Snakemake may submit the same job again: two writers would resume the same run, prune each
other's checkpoints and append to the same log. So the job that writes such a directory first holds a lease
on it: `<name>.lease` beside it, naming the holder (wmvla.lease.holder: Slurm job or process, and a nonce of
this acquisition). Beside it, for as long as they are needed:
- `<name>.lease.ended-<key>.<n>`: the n-th claim to end the lease whose text hashes to <key>, by its ender;
- `<name>.lease.new-<pid>-<start>-<random>@<host>`: a file being published, named for its writer.

One writer under any interleaving of takers, releasers and slow liveness checks:
- a lease or a claim is published whole: written to a private file, then linked into place (`os.link`:
  atomic, refused if the name is taken). A refusal is checked against what is there: NFS may answer EEXIST
  to a link it made (a retried request), and only this acquisition wrote its own nonce;
- a lease is ended by one party: whoever ends it (its holder releasing it, or a job that judged the holder
  dead) first links claim n — of several parties, exactly one succeeds — and only then checks that the lease
  is still that one and replaces or removes it. Claim n+1 is tried only by a party that judged claim n's
  ender dead, so at most one living party ever acts on a lease;
- a claim is removed only where no party can act on it any more, by two rules of the sweep (below): it lists
  the claims *before* it reads the lease (a claim listed was made on a lease published before the listing;
  if another lease, or none, is in place after it, that lease has gone for good, and a text is never
  published twice), and it never removes a claim of the lease in place (its ender may be between its claim
  and its act: with the claim gone, a second party would claim the same end and both would act).
  tests/test_lease_interleavings.py lags a sweep at each of its steps: with either rule broken, two hold.
No run blocked forever, whatever is killed where (`STEPS`, tests/test_lease.py kills a job at each one):
- a text is never published twice (the nonce): a lease gone from its place never returns, so claims on it
  are nobody's business, and two acquisitions by one process are two leases, each ended once;
- a claim whose ender died before acting is superseded by the next one;
- whoever takes or ends a lease then sweeps: the claims of leases that have gone, and the private files of
  writers that have gone, judged as holders are from the text they hold (a file cut short in its writing:
  by PID on this host, by age elsewhere).

A job that finds a live holder does not wait — waiting would hold its GPU for the holder's whole life — it
stops at once, naming the holder, its state and how to check it; Snakemake's retries, or the next run of the
study, find the holder ended (its lease is then taken over and the work resumed) or the work done. A held
holder (`scontrol hold`, `REQUEUE_HOLD`) counts as alive: it resumes when released. A holder or ender whose
state cannot be read here (another host, `squeue` failing, another user's job `squeue` does not show, a job
whose node failed) and a lease or claim this job cannot read are never taken over: the job stops in one line
saying how to check and release it by hand. An ender that lives but does not finish is named the same way.
Releasing never raises (it runs as the job ends, and must not hide the job's own outcome): what it could not
do is logged, with who tidies it.

What this rests on: host names unique among the hosts sharing the directory, one Slurm cluster behind every
job id, a filesystem that makes a file written and closed on one host whole to the next open on another (NFS's
close-to-open consistency), Slurm job names left as submitted, and a requeued job's earlier incarnation ended
(Slurm ends it before requeueing, except after a node failure: the lost node is taken to write no more).
"""

import glob
import hashlib
import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from wmvla.errors import WmvlaError
from wmvla.lease.holder import Holder, Liveness, alive, process_runs

log = logging.getLogger(__name__)

ROUNDS = 10  # acquisition rounds (each publishes, takes over, or sees the lease change under it)
PAUSE_S = 0.05  # before round r, r times this: a party ending the lease is given time to finish
STALE_PRIVATE_S = 86400.0  # a private file of another host's writer this old was abandoned
# Every step boundary of taking and ending a lease, in order; `lease(step=...)` is called at each one.
STEPS = (
    "publish:private", "publish:linked",
    "take:read", "take:judged", "take:claim:private", "take:claim:linked", "take:claimed", "take:checked",
    "take:replacement:private", "take:replaced",
    "held",
    "end:claim:private", "end:claim:linked", "end:claimed", "end:checked", "end:removed",
    "sweep:listed", "sweep:read",  # of each sweep: after publishing, taking over or ending a lease
)  # fmt: skip

Step = Callable[[str], None]


def lease_path(guarded: Path) -> Path:
    """The lease file of a directory or file that a job writes resumably: `<name>.lease` beside it."""
    guarded = Path(guarded)
    return guarded.with_name(guarded.name + ".lease")


class LeaseError(WmvlaError, RuntimeError):
    """Another job holds the lease, or may: this one must not write (the message says who, how to check)."""


def _no_fault(_: str) -> None:
    """Nothing happens between steps (tests pass a `step` that kills the process at one)."""


@contextmanager
def lease(path: Path, what: str, step: Step = _no_fault) -> Iterator[Holder]:
    """Hold the lease `path` (a file beside what it guards) while the block writes `what`; take it over from a
    holder that has ended; stop at once if one may still be writing. The caller checks whether the work is
    already done (a holder that ended may have finished it). `step` is called with each name of `STEPS`."""
    one = _Acquisition(Path(path), what, Holder.me(), step)
    try:
        one.path.parent.mkdir(parents=True, exist_ok=True)
        one.acquire()
    except OSError as err:  # a full disk, a quota, a filesystem gone: nothing of the job's is written yet
        raise LeaseError(
            f"{what}: {one.path} could not be taken ({err}); this job stops before writing: fix that and run "
            f"it again"
        ) from err
    step("held")
    try:
        yield one.me
    finally:
        one.release()


def holder_of(path: Path) -> Holder | None:
    """Who the lease `path` names, as its file says now; None if there is none, or none this version reads
    (`wmvla status` reports holders; taking a lease over goes through `lease`)."""
    try:
        text = _read(Path(path))
    except OSError:
        return None
    return _parse(text) if text is not None else None


def _key(text: str) -> str:
    """What names a lease's claims: its whole text (holder and nonce)."""
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _read(path: Path) -> str | None:
    """A file's text; None if nothing is there (another OSError is raised: the caller says what it means)."""
    try:
        return path.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return None


def _parse(text: str) -> Holder | None:
    """The holder a lease or a claim names; None if it names none this version reads (or is damaged)."""
    try:
        holder = Holder(**json.loads(text))
    except (json.JSONDecodeError, TypeError):
        return None
    return holder if holder.well_formed() else None


class _Acquisition:
    """One acquisition of one lease: takes it, ends it, and tidies the files around it."""

    def __init__(self, path: Path, what: str, me: Holder, step: Step) -> None:
        self.path, self.what, self.me, self.step = path, what, me, step
        self.mine = json.dumps(asdict(me), sort_keys=True)
        self.ending: tuple[Path, Holder, Liveness] | None = None  # a living ender met in the current round

    def acquire(self) -> None:
        """Hold the lease, or raise a LeaseError saying who may hold it. Each round publishes this
        acquisition's text if the place is free, or else takes the lease over if its holder has ended (claims
        its end, checks it is still the lease judged, replaces it). A round may find the lease changed under
        it (released, or being ended by a living party): the next looks again after a longer pause, giving
        that party time to finish. A holder or ender that may be alive, or cannot be judged, stops the job."""
        started = time.monotonic()
        for round_ in range(ROUNDS):
            time.sleep(PAUSE_S * round_)
            self.ending = None
            if self._link(self.path, self.mine, "publish"):
                self._sweep()
                return
            if self._take():
                return
        raise LeaseError(self._busy(time.monotonic() - started))

    def _take(self) -> bool:
        """Take over the lease in place if its holder has ended; False if the lease changed meanwhile."""
        text = self._lease_text()
        if text is None:
            return False  # released meanwhile
        self.step("take:read")
        holder = _parse(text)
        if holder is None:
            raise LeaseError(self._unreadable("written by another version of wmvla, or damaged"))
        state = alive(holder, self.me)
        if state.alive is not False:
            raise LeaseError(self._refusal(holder, state))
        self.step("take:judged")
        claim = self._claim(text, "take")
        if claim is None:
            return False  # another party is ending it, or has: look again
        try:
            ended = self._lease_text() != text  # before this claim (by a claimant since dead, or swept)
        except LeaseError:
            claim.unlink(missing_ok=True)
            raise
        if ended:
            claim.unlink(missing_ok=True)
            return False
        self.step("take:checked")
        self._replace(self._private(self.mine, "take:replacement"))
        self.step("take:replaced")
        self._sweep()
        log.warning("%s: took over %s from %s (%s)", self.what, self.path, holder.describe(), state.why)
        return True

    def release(self) -> None:
        """End this acquisition's lease, unless another job took it over (having judged this one dead). Never
        raises: it runs as the job ends and must not hide the job's own outcome; what it could not do is
        logged, with what is left and who tidies it."""
        try:
            self._end()
        except LeaseError as err:
            log.warning("%s: %s left as it is: %s", self.what, self.path, err)
        except OSError as err:
            log.warning(
                "%s: %s not released (%s); it names this job, so the next job takes it over once this one "
                "has ended (and sweeps what is beside it)",
                self.what, self.path, err,
            )  # fmt: skip

    def _end(self) -> None:
        claim = self._claim(self.mine, "end")
        if claim is None or _read(self.path) != self.mine:
            log.warning("%s: %s is no longer ours (taken over); left as it is", self.what, self.path)
            if claim is not None:
                claim.unlink(missing_ok=True)
            return
        self.step("end:checked")
        self.path.unlink(missing_ok=True)  # NFS may answer ENOENT to an unlink it made (the request retried)
        self.step("end:removed")
        self._sweep()

    def _lease_text(self) -> str | None:
        """The lease's text (None if there is none); a LeaseError if it cannot be read."""
        try:
            return _read(self.path)
        except OSError as err:
            raise LeaseError(self._unreadable(err.strerror or str(err))) from err

    def _claim(self, text: str, phase: str) -> Path | None:
        """Claim the end of the lease whose text is `text`: the first claim not yet made, past claims whose
        enders have all ended. None if a living party claimed it (it is ending the lease: `self.ending`) or
        the lease has gone; a LeaseError if a claim's ender cannot be judged from here."""
        for n in itertools.count(1):
            claim = self.path.with_name(f"{self.path.name}.ended-{_key(text)}.{n}")
            if self._link(claim, self.mine, f"{phase}:claim"):
                self.step(f"{phase}:claimed")
                return claim
            try:
                other = _read(claim)
            except OSError as err:
                raise LeaseError(
                    self._stuck(claim, None, f"{claim.name} cannot be read: {err.strerror}")
                ) from err
            if other is None:
                return None  # removed since: its lease has gone
            ender = _parse(other)
            if ender is None:
                raise LeaseError(self._stuck(claim, None, f"{claim.name} cannot be read"))
            state = alive(ender, self.me)
            if state.alive is None:
                raise LeaseError(self._stuck(claim, ender, state.why))
            if state.alive:
                self.ending = (claim, ender, state)
                return None
        raise AssertionError("unreachable")  # pragma: no cover

    def _private(self, text: str, step: str) -> Path:
        """`text` in a file named for this process, beside the lease (the same filesystem: links work)."""
        me = self.me
        tmp = self.path.with_name(
            f"{self.path.name}.new-{me.pid}-{me.started}-{uuid.uuid4().hex[:12]}@{me.host}"
        )
        tmp.write_text(text)
        self.step(f"{step}:private")
        return tmp

    def _link(self, target: Path, text: str, step: str) -> bool:
        """Put `text` whole at `target` unless something is there; True if `text` is there now."""
        tmp = self._private(text, step)
        try:
            os.link(tmp, target)
            self.step(f"{step}:linked")
        except FileExistsError:
            pass  # someone else's, or this very link reported failed (NFS): what is there tells
        try:
            tmp.unlink(missing_ok=True)
        except OSError as err:  # named for this process: swept once it has ended
            log.warning("%s: %s left (%s)", self.what, tmp, err)
        try:
            return _read(target) == text
        except OSError:
            return False  # not this job's; the caller reads it again and says why

    def _replace(self, private: Path) -> None:
        """Put this acquisition's text in place of the lease it claimed. NFS may answer ENOENT to a rename it
        made (the request retried): what is there tells."""
        try:
            os.replace(private, self.path)
        except FileNotFoundError:
            if _read(self.path) != self.mine:
                raise

    def _sweep(self) -> None:
        """Remove the claims of leases that have gone and the private files of writers that have gone, by the
        two rules of the module's argument: list before reading the lease, spare the claims of the lease in
        place. Best effort: what it cannot remove, the next sweep will."""
        try:
            # listed before the lease is read (`sweep:listed`, then `sweep:read`)
            around = list(self.path.parent.glob(f"{glob.escape(self.path.name)}.*"))
            self.step("sweep:listed")
            text = _read(self.path)
            self.step("sweep:read")
            live = None if text is None else f"{self.path.name}.ended-{_key(text)}."
            for file in around:
                kind = file.name[len(self.path.name) :]
                claim_gone = kind.startswith(".ended-") and not (live and file.name.startswith(live))
                if claim_gone or (kind.startswith(".new-") and self._abandoned(file)):
                    file.unlink(missing_ok=True)
        except OSError as err:
            log.warning(
                "%s: files beside %s left (%s): the next sweep removes them", self.what, self.path, err
            )

    def _abandoned(self, private: Path) -> bool:
        """Whether a private file's writer has gone, judged as a holder is from the text it holds (its lease
        or claim); a file cut short in its writing by its PID on this host, by its age elsewhere."""
        try:
            writer = _parse(_read(private) or "")
        except OSError:
            writer = None
        state = Liveness(None, "") if writer is None else alive(writer, self.me)
        if state.alive is not None:
            return not state.alive
        pid, started, *_ = [*private.name.rpartition(".new-")[2].partition("@")[0].split("-"), "", ""]
        if writer is None and private.name.endswith(f"@{self.me.host}") and pid.isdigit():
            return not process_runs(int(pid), None if started == "None" else started)
        try:
            return time.time() - private.stat().st_mtime > STALE_PRIVATE_S
        except OSError:
            return False

    def _refusal(self, holder: Holder, state: Liveness) -> str:
        """One line: who holds the lease, why it may still write, and what to do."""
        check = holder.check(self.me)
        if holder.is_process(self.me):
            return f"{self.what}: {self.path} is held by {check}; nothing is taken over: end that one first"
        if state.alive is None:
            return (
                f"{self.what}: {self.path} is held by {holder.describe()}, whose state cannot be read "
                f"({state.why}); nothing is taken over. Check: {check}; once it has ended, remove "
                f"{self.path} and run the job again"
            )
        if "held" in state.why:
            check += f" (or let it resume: scontrol release {holder.slurm_job})"
        return (
            f"{self.what}: {self.path} is held by {holder.describe()} ({state.why}), which may still be "
            f"writing it; this job stops rather than wait on its GPU; a later run of the study resumes or "
            f"finds the work done. Check: {check}"
        )

    def _unreadable(self, why: str) -> str:
        guarded = self.path.with_name(self.path.name.removesuffix(".lease"))
        return (
            f"{self.what}: {self.path} cannot be read as a lease ({why}); nothing is taken over. Check that "
            f"no job writes {guarded} (squeue --me; ps), then remove {self.path} and run the job again"
        )

    def _stuck(self, claim: Path, ender: Holder | None, why: str) -> str:
        who = "a job" if ender is None else ender.describe()
        check = "" if ender is None else f"Check: {ender.check(self.me)}; "
        return (
            f"{self.what}: {self.path} is being ended by {who}, whose state cannot be read ({why}); "
            f"nothing is taken over. {check}once it has ended, remove {claim} and run the job again"
        )

    def _busy(self, seconds: float) -> str:
        """Why the rounds ran out: a living ender that has not finished (named), or a lease changing hands."""
        if self.ending is None:
            return (
                f"{self.what}: {self.path} changed hands {ROUNDS} times while this job tried to take it; "
                f"run it again"
            )
        claim, ender, state = self.ending
        return (
            f"{self.what}: {self.path} is being ended by {ender.describe()} ({state.why}), which has not "
            f"finished in {seconds:.1f} s; this job stops rather than wait on its GPU. Check: "
            f"{ender.check(self.me)}; once it has ended, run the job again (its claim {claim.name} is then "
            f"superseded)"
        )
