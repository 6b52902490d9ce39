"""Season batches in the web app: a folder of original episodes paired with a folder of
dubs (app.services.pairing), or pairs given by hand, one job per pair on the job runner.

A batch is kept in the jobs' SQLite file (table `batches`, through the JobStore's
connection), or beside the jobs in Redis with QUEUE_URL (open_batch_store), so a restart
loses nothing; its episodes are ordinary jobs carrying the batch's id (`Job.batch_id`),
their label (`Job.episode`) and the batch's output folder (`Job.output_subdir`):
OUTPUT_DIR/<batch name>/<original's stem>.mkv, " (2)" added when that name is taken.
A batch's state is read from its jobs, never stored:

- processing: some episode is queued or processing;
- completed: every episode completed;
- completed_with_refusals: the only episodes not completed were refused (the engine
  found the two files are not the same episode: nothing written, reasons kept);
- failed: some episode failed for another reason (bad media, ffmpeg, a model...);
- cancelled: otherwise (some cancelled, none failed).

Paths from users are relative to MEDIA_SOURCE_PATH and never leave it
(file_utils.resolve_inside); a bad one is a 400 that says what to give instead.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from app.errors import AlignmentError, InputError, InputPathError, SyncDubError
from app.jobs import ACTIVE, Job, JobRunner, JobStore, utcnow
from app.submit import MAX_CUSTOM_NAME, BatchEpisode, JobOptions, JobSubmitter, media_root
from app.utils.file_utils import PathNotFound, output_stem, resolve_inside

logger = logging.getLogger(__name__)

#: Most pairs one batch takes: a season or several (a long anime runs to a few hundred);
#: more is surely a wrong folder, and one request must stay quick to check.
MAX_PAIRS = 500
#: Longest batch name (characters); its folder name is then cut to file_utils.MAX_STEM.
MAX_NAME = 200
#: The counts a batch reports, in order.
COUNTED = ("queued", "processing", "completed", "failed", "cancelled", "refused")


class BatchConflict(SyncDubError):
    """The batch is not in a state that allows the request (HTTP 409)."""

    code = "conflict"
    http_status = 409


# ------------------------------------------------------------------ values

@dataclass(frozen=True)
class Leftover:
    """A file the pairing left alone; `path` relative to the media folder."""

    path: str
    reason: str


@dataclass(frozen=True)
class Unsure:
    """A file that could go with any of `candidates` (relative paths): none chosen."""

    path: str
    candidates: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class PlannedPair:
    """One episode to sync: absolute paths inside the media folder, its label ("S01E02",
    or the original's name when the name gives no number), how it was paired ("name",
    "duration" or "manual") and why."""

    original: Path
    dubbed: Path
    episode: str
    how: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What a batch would run: the pairs and what was left out, before anything runs.
    `originals`/`dubs`: the folders as given ("" when pairs were given without them);
    `files`: how many videos each folder held (0 without folders)."""

    root: Path
    originals: str
    dubs: str
    pairs: tuple[PlannedPair, ...]
    unpaired_originals: tuple[Leftover, ...] = ()
    unpaired_dubs: tuple[Leftover, ...] = ()
    ambiguous: tuple[Unsure, ...] = ()
    files: tuple[int, int] = (0, 0)

    def default_name(self) -> str:
        """The originals folder's name, else the first original's folder's, else
        "batch"."""
        folder = Path(self.originals) if self.originals.strip(" ./") else (
            self.pairs[0].original.parent.relative_to(self.root) if self.pairs else Path())
        return folder.name or "batch"

    def to_dict(self) -> dict[str, Any]:
        """The dry run's answer: paths relative to the media folder."""
        return {"pairs": [{"original_path": self.rel(p.original),
                           "dubbed_path": self.rel(p.dubbed), "episode": p.episode,
                           "how": p.how, "reason": p.reason} for p in self.pairs],
                **leftovers_dict(self.unpaired_originals, self.unpaired_dubs, self.ambiguous),
                "originals": self.originals, "dubs": self.dubs,
                "name": self.default_name(),
                "files": {"originals": self.files[0], "dubs": self.files[1]}}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def leftovers_dict(unpaired_originals: Iterable[Leftover], unpaired_dubs: Iterable[Leftover],
                   ambiguous: Iterable[Unsure]) -> dict[str, list[dict[str, Any]]]:
    return {"unpaired_originals": [asdict(u) for u in unpaired_originals],
            "unpaired_dubs": [asdict(u) for u in unpaired_dubs],
            "ambiguous": [{**asdict(a), "candidates": list(a.candidates)} for a in ambiguous]}


@dataclass(frozen=True)
class BatchRequest:
    """POST /api/batches, parsed: two folders, or pairs (original, dubbed) given by hand
    (the folders then optional); paths relative to the media folder."""

    originals: str = ""
    dubs: str = ""
    pairs: tuple[tuple[str, str], ...] | None = None
    dry_run: bool = False
    name: str = ""
    options: JobOptions = JobOptions()

    @classmethod
    def from_json(cls, data: Any) -> BatchRequest:
        """Raise InputError naming the field when the body does not fit."""
        if not isinstance(data, Mapping):
            raise InputError("Send a JSON object: {\"originals\": FOLDER, \"dubs\": FOLDER} "
                             "or {\"pairs\": [{\"original_path\", \"dubbed_path\"}, ...]}.")
        pairs = data.get("pairs")
        if pairs is not None:
            pairs = _pairs(pairs)
        name = _string(data, "name")
        if len(name) > MAX_NAME:
            raise InputError(f"name is too long ({MAX_NAME} characters at most).")
        options = JobOptions(mode=_string(data, "mode").lower() or None,  # type: ignore[arg-type]
                             gap_fill=_string(data, "gap_fill").lower() or None)  # type: ignore[arg-type]
        req = cls(originals=_string(data, "originals"), dubs=_string(data, "dubs"),
                  pairs=pairs, dry_run=_flag(data.get("dry_run"), "dry_run"), name=name,
                  options=options)
        if req.pairs is None and not (req.originals and req.dubs):
            missing = "originals" if not req.originals else "dubs"
            raise InputError(f"Missing field {missing!r}: give the originals and the dubs "
                             "folders (paths relative to the media folder), or the pairs.")
        return req


def _string(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string.")
    return value.strip()


def _flag(value: Any, name: str) -> bool:
    from app.validation import BOOLEAN_WORDS  # not at import: validation reads app.openapi
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[value.strip().lower()]
    raise InputError(f"{name} must be true or false.")


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise InputError("pairs must be a list of {\"original_path\", \"dubbed_path\"} objects.")
    if not value:
        raise InputError("pairs is empty: give at least one {\"original_path\", "
                         "\"dubbed_path\"}, or the two folders instead.")
    if len(value) > MAX_PAIRS:
        raise InputError(f"{len(value)} pairs: one batch takes at most {MAX_PAIRS}; split "
                         "the season into several batches.")
    out = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, Mapping):
            raise InputError(f"pair {i} must be an object {{\"original_path\", "
                             "\"dubbed_path\"}.")
        try:
            out.append((_string(item, "original_path"), _string(item, "dubbed_path")))
        except InputError as e:
            raise InputError(f"pair {i}: {e}") from None
    return tuple(out)


@dataclass
class Batch:
    """A batch's record. `originals`/`dubs`: folders relative to the media folder ("" when
    pairs were given without them); `output_subdir`: its folder under OUTPUT_DIR; the
    pairing's leftovers as the dry run lists them."""

    id: str
    name: str
    originals: str
    dubs: str
    output_subdir: str
    mode: str | None = None
    gap_fill: str | None = None
    unpaired_originals: list[dict[str, Any]] = field(default_factory=list)
    unpaired_dubs: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=utcnow)


@dataclass(frozen=True)
class BatchState:
    """What a batch's jobs add up to (see the module's docstring)."""

    status: str
    done: bool
    counts: dict[str, int]


def refused(job: Job) -> bool:
    """The engine refused the pair: not the same episode (nothing written)."""
    return job.status == "failed" and job.error_code == AlignmentError.code


def batch_state(jobs: Sequence[Job]) -> BatchState:
    counts = {k: 0 for k in COUNTED}
    for j in jobs:
        counts["refused" if refused(j) else j.status] += 1
    if counts["queued"] or counts["processing"]:
        status = "processing"
    elif counts["completed"] == len(jobs):
        status = "completed"
    elif counts["completed"] + counts["refused"] == len(jobs):
        status = "completed_with_refusals"
    elif counts["failed"]:
        status = "failed"
    else:
        status = "cancelled"
    return BatchState(status, status != "processing", counts)


def episode_order(jobs: Iterable[Job]) -> list[Job]:
    """By episode label, then the original's name; numbers in them compared as numbers
    (S01E99 before S01E100)."""
    return sorted(jobs, key=lambda j: (_natural(j.episode), _natural(j.original_name)))


def _natural(text: str) -> tuple:
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", text) if part)


# ------------------------------------------------------------------ the store

_JSON_FIELDS = {"unpaired_originals", "unpaired_dubs", "ambiguous"}
_COLUMNS = [f.name for f in fields(Batch)]


class BatchStore:
    """Batches in the jobs' SQLite file (table `batches`), through the JobStore's
    connection and lock."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'id' else ''}" for c in _COLUMNS)
        jobs.execute(f"CREATE TABLE IF NOT EXISTS batches ({cols})")
        have = {r["name"] for r in jobs.execute("PRAGMA table_info(batches)")}
        for c in _COLUMNS:  # columns added by a later version
            if c not in have:
                jobs.execute(f"ALTER TABLE batches ADD COLUMN {c}")

    def add(self, batch: Batch) -> Batch:
        values = [json.dumps(getattr(batch, c)) if c in _JSON_FIELDS else getattr(batch, c)
                  for c in _COLUMNS]
        self.jobs.execute(f"INSERT INTO batches ({', '.join(_COLUMNS)}) VALUES "
                          f"({', '.join('?' * len(_COLUMNS))})", values)
        return batch

    @staticmethod
    def _decode(row: Any) -> Batch:
        d = {k: row[k] for k in row.keys() if k in _COLUMNS}
        for k in _JSON_FIELDS:
            d[k] = json.loads(d[k]) if d.get(k) else []
        return Batch(**d)

    def get(self, batch_id: str) -> Batch | None:
        rows = self.jobs.execute("SELECT * FROM batches WHERE id = ?", (batch_id,))
        return self._decode(rows[0]) if rows else None

    def list(self, limit: int = 200) -> list[Batch]:
        rows = self.jobs.execute("SELECT * FROM batches ORDER BY created_at DESC, rowid DESC "
                                 "LIMIT ?", (limit,))
        return [self._decode(r) for r in rows]

    def delete(self, batch_id: str) -> None:
        self.jobs.execute("DELETE FROM batches WHERE id = ?", (batch_id,))


def open_batch_store(jobs: Any) -> Any:
    """Batches beside the jobs: in their SQLite file, or in their Redis when the jobs are
    there (QUEUE_URL: app.jobstore_redis.RedisBatchStore, the same interface)."""
    if isinstance(jobs, JobStore):
        return BatchStore(jobs)
    from app.jobstore_redis import RedisBatchStore
    return RedisBatchStore(jobs)


# ------------------------------------------------------------------ the service

@dataclass(frozen=True)
class BatchView:
    """A batch with its jobs (episode order) and their state."""

    batch: Batch
    jobs: list[Job]
    state: BatchState


class BatchService:
    """Plans, starts, reads, retries and deletes batches; jobs go through `submitter`."""

    def __init__(self, settings, runner: JobRunner, submitter: JobSubmitter,
                 store: BatchStore) -> None:
        self.settings = settings
        self.runner = runner
        self.submitter = submitter
        self.store = store

    # -- planning (the dry run) ------------------------------------------------------
    def plan(self, req: BatchRequest) -> Plan:
        """The pairs `req` would run. Raises PathNotFound (404) when the media folder is
        off, InputError (400) for a bad folder or pair."""
        root = media_root(self.settings).resolve()
        if not root.is_dir():
            raise PathNotFound(f"The media folder {root} is not a folder (is the volume "
                               "mounted?).")
        if req.pairs is not None:
            return self._plan_pairs(root, req)
        return self._plan_folders(root, req.originals, req.dubs)

    def _folder(self, root: Path, rel: str, role: str) -> Path:
        if not rel:
            raise InputError(f"Give the {role} folder (a path relative to the media folder).")
        try:
            path = resolve_inside(root, rel, f"{role} folder")
        except InputPathError:
            raise InputError(f"The {role} folder {rel!r} is outside the media folder; give "
                             "a folder inside it (GET /api/media/list lists them).") from None
        if not path.exists():
            raise InputError(f"The {role} folder {rel!r} does not exist in the media folder; "
                             "give the folder that holds the episodes (GET /api/media/list "
                             "lists them).")
        if not path.is_dir():
            raise InputError(f"{rel!r} is a file, not a folder: give the {role} folder that "
                             "holds the episodes, or the pairs.")
        return path

    def _plan_folders(self, root: Path, originals: str, dubs: str) -> Plan:
        from app.services.pairing import episode_label, pair_files
        allowed = self.settings.allowed_extensions
        folders = {"originals": self._folder(root, originals, "originals"),
                   "dubs": self._folder(root, dubs, "dubs")}
        if folders["originals"] == folders["dubs"]:
            raise InputError("The originals and the dubs are the same folder; give the "
                             "folder of the originals and the folder of the dubs.")
        files = {}
        for role, folder in folders.items():
            files[role] = self._videos(root, folder)
            if not files[role]:
                raise InputError(f"Nothing to pair: the {role} folder "
                                 f"{originals if role == 'originals' else dubs!r} holds no "
                                 f"video (accepted: {', '.join(sorted(allowed))}).")
        if len(files["originals"]) + len(files["dubs"]) > 4 * MAX_PAIRS:
            raise InputError(f"The folders hold {len(files['originals'])} and "
                             f"{len(files['dubs'])} videos: too many for one batch "
                             f"({MAX_PAIRS} pairs at most); give the season's folders.")
        pairing = pair_files(files["originals"], files["dubs"])
        # The folders as paths relative to the media folder, however they were given.
        plan = Plan(root, _rel(root, folders["originals"]), _rel(root, folders["dubs"]), (),
                    files=(len(files["originals"]), len(files["dubs"])))
        return replace(
            plan,
            pairs=tuple(PlannedPair(p.original.resolve(), p.dub.resolve(), episode_label(p),
                                    p.how, p.reason) for p in pairing.pairs),
            unpaired_originals=tuple(Leftover(plan.rel(u.path), u.reason)
                                     for u in pairing.unpaired_originals),
            unpaired_dubs=tuple(Leftover(plan.rel(u.path), u.reason)
                                for u in pairing.unpaired_dubs),
            ambiguous=tuple(Unsure(plan.rel(a.path), tuple(plan.rel(c) for c in a.candidates),
                                   a.reason) for a in pairing.ambiguous))

    def _plan_pairs(self, root: Path, req: BatchRequest) -> Plan:
        folders = {role: self._folder(root, rel, role) if rel else None
                   for rel, role in ((req.originals, "originals"), (req.dubs, "dubs"))}
        planned: list[PlannedPair] = []
        seen: dict[Path, int] = {}
        for i, (o, d) in enumerate(req.pairs or (), 1):
            try:
                opath, dpath = self.submitter.media_pair(o, d)
            except SyncDubError as e:   # missing (404 alone), outside (403 alone): here 400
                raise InputError(f"pair {i}: {e}") from None
            if opath in seen:
                raise InputError(f"pair {i}: the original {o!r} is already in pair "
                                 f"{seen[opath]}; each original is synced once per batch.")
            seen[opath] = i
            planned.append(PlannedPair(opath, dpath, _name_label(opath), "manual",
                                       "given by hand"))
        plan = Plan(root, _rel(root, folders["originals"]), _rel(root, folders["dubs"]),
                    tuple(planned))
        # The folders' other videos are listed as left out, as a dry run listed them.
        used = {p for x in planned for p in (x.original, x.dubbed)}
        videos = {role: self._videos(root, folder) if folder is not None else []
                  for role, folder in folders.items()}
        left = {role: tuple(Leftover(plan.rel(f.resolve()), "not in the pairs given")
                            for f in files if f.resolve() not in used)
                for role, files in videos.items()}
        return replace(plan, unpaired_originals=left["originals"], unpaired_dubs=left["dubs"],
                       files=(len(videos["originals"]), len(videos["dubs"])))

    def _videos(self, root: Path, folder: Path) -> list[Path]:
        """The videos directly in `folder`, sorted; links that lead out of the media
        folder left out, as in the listing."""
        from app.services.pairing import media_files
        return [p for p in media_files(folder, self.settings.allowed_extensions)
                if p.resolve().is_relative_to(root)]

    # -- running ---------------------------------------------------------------------
    def start(self, plan: Plan, name: str = "", options: JobOptions = JobOptions()) -> Batch:
        """Record the batch and queue one job per pair. InputError when there is nothing
        to run."""
        if not plan.pairs:
            raise InputError(f"Nothing to pair: no episode could be paired ("
                             f"{plan.files[0]} video(s) in the originals folder, "
                             f"{plan.files[1]} in the dubs folder). Rename the files so their "
                             "names carry the episode numbers, or give the pairs by hand; "
                             "a dry run lists the reasons.")
        if len(plan.pairs) > MAX_PAIRS:
            raise InputError(f"{len(plan.pairs)} pairs: one batch takes at most {MAX_PAIRS}; "
                             "split the season into several batches.")
        name = name.strip() or plan.default_name()
        batch = Batch(id=uuid.uuid4().hex[:12], name=name, originals=plan.originals,
                      dubs=plan.dubs, output_subdir=output_stem(name, "batch"),
                      mode=options.mode, gap_fill=options.gap_fill,
                      **leftovers_dict(plan.unpaired_originals, plan.unpaired_dubs,
                                       plan.ambiguous))
        self.store.add(batch)
        for p in plan.pairs:
            episode_options = replace(options, custom_name=p.original.stem[:MAX_CUSTOM_NAME])
            self.submitter.from_batch(p.original, p.dubbed, episode_options,
                                      BatchEpisode(batch.id, p.episode, batch.output_subdir))
        logger.info("batch %s %r: %d episode(s) queued -> %s/", batch.id, name,
                    len(plan.pairs), batch.output_subdir)
        return batch

    # -- reading ---------------------------------------------------------------------
    def batch(self, batch_id: str) -> Batch:
        batch = self.store.get(batch_id)
        if batch is None:
            raise PathNotFound(f"No batch {batch_id!r}.")
        return batch

    def view(self, batch_id: str) -> BatchView:
        batch = self.batch(batch_id)
        jobs = episode_order(self.runner.store.in_batch(batch.id))
        return BatchView(batch, jobs, batch_state(jobs))

    def list(self, limit: int = 200) -> list[BatchView]:
        out = []
        for b in self.store.list(limit):
            jobs = self.runner.store.in_batch(b.id)
            out.append(BatchView(b, jobs, batch_state(jobs)))
        return out

    # -- commands --------------------------------------------------------------------
    def retry(self, batch_id: str) -> BatchView:
        """Queue every failed or cancelled episode again (refused ones too). BatchConflict
        when there is none; InputError when none could be queued (inputs gone)."""
        view = self.view(batch_id)
        targets = [j for j in view.jobs if j.status in ("failed", "cancelled")]
        if not targets:
            raise BatchConflict(f"Nothing to retry in batch {batch_id}: no episode failed or "
                                "was cancelled.")
        errors = []
        for j in targets:
            try:
                self.runner.retry(j.id)
            except (InputError, KeyError) as e:
                errors.append(f"{j.episode or j.original_name}: {e}")
        if len(errors) == len(targets):
            raise InputError("No episode could be queued again: " + "; ".join(errors[:5]))
        logger.info("batch %s: %d episode(s) queued again", batch_id,
                    len(targets) - len(errors))
        return self.view(batch_id)

    def delete(self, batch_id: str) -> None:
        """Forget a finished batch: its record and its jobs' records (outputs kept).
        BatchConflict while an episode is queued or processing."""
        view = self.view(batch_id)
        active = [j for j in view.jobs if j.status in ACTIVE]
        if active:
            raise BatchConflict(f"Batch {batch_id} still has {len(active)} episode(s) queued "
                                "or processing; cancel them (DELETE /api/tasks/<task_id>) or "
                                "wait until they end.")
        for j in view.jobs:
            self.runner.delete(j.id)
        self.store.delete(batch_id)
        logger.info("batch %s deleted (%d episode records; outputs kept)", batch_id,
                    len(view.jobs))


def _rel(root: Path, folder: Path | None) -> str:
    """`folder` relative to the media folder ("." for the folder itself; "" for none)."""
    return folder.relative_to(root).as_posix() if folder is not None else ""


def _name_label(path: Path) -> str:
    """A hand-made pair's label from the original's name: "S01E02" when the name carries
    the numbers ("E02" without a season), else the file name."""
    from app.services.pairing import key_label, parse_episode
    ep = parse_episode(path)
    nums = ep.episode if isinstance(ep.episode, tuple) else (
        (ep.episode,) if ep.episode is not None else ())
    return key_label((ep.season, n) for n in nums) if nums else path.name


