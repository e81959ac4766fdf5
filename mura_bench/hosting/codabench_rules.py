"""Codabench's rules for a competition bundle and its scoring run, written down as facts.

Each fact names the file of Codabench's source (github.com/codalab/codabench) it was read from.
:func:`bundle_faults` checks a ``competition.yaml`` document and the bundle's files against the
rules that make Codabench refuse a bundle at upload, so the export can refuse it first (exit 2)
instead of writing a bundle that fails on the platform.

Upload (``src/apps/competitions/tasks.py``, ``unpack_competition``): the upload is a zip with
``competition.yaml`` at its root; ``version`` 2 selects the v2 unpacker.

v2 unpacker (``src/apps/competitions/unpackers/v2.py``): every page file and the terms file must
exist and be non-empty; the logo (``image``) must exist (``base_unpacker.py``, ``_unpack_image``);
``tasks`` must be present, each with a unique ``index`` and a ``scoring_program``; each solution
needs ``index``, ``tasks`` (indices of listed tasks) and ``path``; each phase needs ``tasks``;
``leaderboards`` must be present. Phase dates are parsed by ``dateutil`` and made aware
(``unpackers/utils.py``, ``get_datetime``).

Phase order (``src/apps/competitions/unpackers/base_unpacker.py``, ``_validate_phase_ordering``):
phases sorted by index; every phase followed by another must have an ``end``; the next phase may
not start before it ends ("Phases must be sequential"), nor at the very instant it ends ("Phases
dates conflict"): the development phase ends strictly before the final phase starts.

Field limits (Django models; the serializers refuse longer values):
``src/apps/competitions/models.py``: ``Competition.title`` 256 characters, ``docker_image`` 128,
``Phase.name`` 256, ``Page.title`` 255, ``Phase.max_submissions_per_day`` and
``max_submissions_per_person`` and ``execution_time_limit`` non-negative integers;
``src/apps/tasks/models.py``: ``Task.name`` and ``Solution.name`` 256;
``src/apps/leaderboards/models.py``: ``Leaderboard.title`` 64, ``Leaderboard.key`` 36,
``Column.title`` 36, ``Column.key`` 36, ``Column.sorting`` ``desc``/``asc``, ``submission_rule``
one of the listed rules, ``primary_index`` the ``index`` of one of its columns (the ranking
column, ``src/apps/api/serializers/leaderboards.py``), scores stored as decimals with 10 places
(``SubmissionScore.score``). ``src/apps/api/serializers/leaderboards.py``: at least one column,
unique column indexes, unique column keys.

Scoring run (``compute_worker/compute_worker.py``): the worker always pulls ``docker_image``
before it runs (``_get_container_image``: a local-only tag fails every submission); it unzips the
scoring program into ``/app/program`` (the working directory), the task's reference data into
``/app/input/ref`` and the submission into ``/app/input/res`` with ``zipfile.extractall``; it runs
the ``command`` of ``metadata.yaml``; it reads ``/app/output/scores.json`` (a JSON object,
``push_scores``) and shows ``/app/output/detailed_results.html``. The API stores only the scores
whose keys are leaderboard column keys (``src/apps/api/views/submissions.py``,
``upload_submission_scores``). The default queue caps a run at 600 seconds
(``src/apps/competitions/tasks.py``, ``MAX_EXECUTION_TIME_LIMIT``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

BUNDLE_VERSION = 2
COMPETITION_FILE = "competition.yaml"
#: Codabench writes and reads phase dates in this form (parsed with dateutil).
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

COMPETITION_TITLE_MAX = 256
DOCKER_IMAGE_MAX = 128
PHASE_NAME_MAX = 256
PAGE_TITLE_MAX = 255
TASK_NAME_MAX = 256
SOLUTION_NAME_MAX = 256
LEADERBOARD_TITLE_MAX = 64
LEADERBOARD_KEY_MAX = 36
COLUMN_TITLE_MAX = 36
COLUMN_KEY_MAX = 36
COLUMN_SORTING = ("desc", "asc")
SUBMISSION_RULES = (
    "Add",
    "Add_And_Delete",
    "Add_And_Delete_Multiple",
    "Force_Last",
    "Force_Latest_Multiple",
    "Force_Best",
)
#: Decimal places of a stored score (``SubmissionScore.score``): the API serves this precision
#: whatever a column's display precision is.
STORED_SCORE_PLACES = 10
MAX_EXECUTION_TIME_LIMIT = 600

#: The worker's layout inside the scoring container.
WORKER_PROGRAM_DIR = "/app/program"
WORKER_INPUT_DIR = "/app/input"
WORKER_OUTPUT_DIR = "/app/output"
WORKER_REFERENCE_DIR = "input/ref"
WORKER_SUBMISSION_DIR = "input/res"
SCORES_FILE = "scores.json"
DETAILED_RESULTS_FILE = "detailed_results.html"


def format_datetime(moment: dt.datetime) -> str:
    """A phase date as Codabench writes it in a bundle."""
    return moment.strftime(DATETIME_FORMAT)


def bundle_faults(doc: Mapping, files: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """Every rule of Codabench's upload that ``doc`` (a parsed ``competition.yaml``) and ``files``
    (zip entry name -> bytes) break, as ``(field, problem)`` pairs; empty when Codabench would
    unpack the bundle."""
    faults: list[tuple[str, str]] = []

    def fault(field: str, problem: str) -> None:
        faults.append((field, problem))

    if COMPETITION_FILE not in files:
        fault(COMPETITION_FILE, "must be at the zip root")
    if str(doc.get("version")) != str(BUNDLE_VERSION):
        fault("version", f"must be {BUNDLE_VERSION} (the v2 unpacker)")
    _text(fault, doc, "title", COMPETITION_TITLE_MAX, "the competition title")
    _text(fault, doc, "docker_image", DOCKER_IMAGE_MAX, "the Docker image name")
    if not _present(files, doc.get("image")):
        fault("image", "the logo file is missing from the bundle")
    if not files.get(str(doc.get("terms"))):
        fault("terms", "the terms file is missing or empty")
    for i, page in enumerate(doc.get("pages") or []):
        if not files.get(str(page.get("file"))):
            fault(f"pages[{i}].file", "the page file is missing or empty")
        _text(fault, page, "title", PAGE_TITLE_MAX, "a page title", prefix=f"pages[{i}].")
    task_indices = _tasks(fault, doc, files)
    _solutions(fault, doc, files, task_indices)
    _phases(fault, doc, files, task_indices)
    _leaderboards(fault, doc)
    return faults


def _present(files: Mapping[str, bytes], path) -> bool:
    """A file, or a folder with at least one file, in the bundle."""
    if not isinstance(path, str) or not path:
        return False
    prefix = path.rstrip("/") + "/"
    return path in files or any(name.startswith(prefix) for name in files)


def _text(fault, doc: Mapping, key: str, limit: int, what: str, *, prefix: str = "") -> None:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        fault(prefix + key, f"{what} is required")
    elif len(value) > limit:
        fault(prefix + key, f"{what} is limited to {limit} characters (got {len(value)})")


def _tasks(fault, doc: Mapping, files: Mapping[str, bytes]) -> set:
    tasks = doc.get("tasks")
    if not tasks:
        fault("tasks", "no tasks listed")
        return set()
    indices: set = set()
    for i, task in enumerate(tasks):
        where = f"tasks[{i}]."
        if "index" not in task:
            fault(where + "index", "every task needs an index")
        elif task["index"] in indices:
            fault(where + "index", f"duplicate task index {task['index']}")
        else:
            indices.add(task["index"])
        if "key" in task:
            continue
        _text(fault, task, "name", TASK_NAME_MAX, "a task name", prefix=where)
        if not _present(files, task.get("scoring_program")):
            fault(where + "scoring_program", "every task needs a scoring program in the bundle")
        for key in ("reference_data", "input_data", "ingestion_program"):
            if key in task and not _present(files, task[key]):
                fault(where + key, "the folder is missing from the bundle")
    return indices


def _solutions(fault, doc: Mapping, files: Mapping[str, bytes], task_indices: set) -> None:
    for i, solution in enumerate(doc.get("solutions") or []):
        where = f"solutions[{i}]."
        if "index" not in solution:
            fault(where + "index", "every solution needs an index")
        if not solution.get("tasks") or not set(solution["tasks"]) <= task_indices:
            fault(where + "tasks", "must list indices of the bundle's tasks")
        if "key" not in solution and not _present(files, solution.get("path")):
            fault(where + "path", "the solution folder is missing from the bundle")
        if "name" in solution:
            _text(fault, solution, "name", SOLUTION_NAME_MAX, "a solution name", prefix=where)


def _phases(fault, doc: Mapping, files: Mapping[str, bytes], task_indices: set) -> None:
    phases = doc.get("phases")
    if not phases:
        fault("phases", "no phases listed")
        return
    ordered = sorted(enumerate(phases), key=lambda item: item[1].get("index", 0))
    previous_end = previous_name = None
    for position, (i, phase) in enumerate(ordered):
        where = f"phases[{i}]."
        _text(fault, phase, "name", PHASE_NAME_MAX, "a phase name", prefix=where)
        if not phase.get("tasks") or not set(phase["tasks"]) <= task_indices:
            fault(where + "tasks", "every phase needs tasks, by the indices of the bundle's tasks")
        for key in ("max_submissions_per_day", "max_submissions", "execution_time_limit"):
            value = phase.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                fault(where + key, "must be a whole number, 0 or more")
        if "starting_kit" in phase and not _present(files, phase["starting_kit"]):
            fault(where + "starting_kit", "the folder is missing from the bundle")
        start, end = _moment(fault, phase, "start", where), _moment(fault, phase, "end", where)
        if start is None:
            fault(where + "start", "every phase needs a start date")
        if previous_name is not None and start is not None:
            if previous_end is None:
                fault(
                    f"phases[{ordered[position - 1][0]}].end",
                    f"phase {previous_name!r} needs an end date: a phase follows it",
                )
            elif start <= previous_end:
                fault(
                    where + "start",
                    f"phase {phase.get('name')!r} must start strictly after phase "
                    f"{previous_name!r} ends ({previous_end:%Y-%m-%d %H:%M:%S})",
                )
        if start is not None and end is not None and end <= start:
            fault(where + "end", "a phase must end after it starts")
        previous_end, previous_name = end, phase.get("name")


def _moment(fault, phase: Mapping, key: str, where: str) -> dt.datetime | None:
    value = phase.get(key)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    try:
        return dt.datetime.strptime(str(value), DATETIME_FORMAT)
    except ValueError:
        fault(where + key, f"not a date in the form YYYY-MM-DD HH:MM:SS: {value!r}")
        return None


def _leaderboards(fault, doc: Mapping) -> None:
    boards = doc.get("leaderboards")
    if not boards:
        fault("leaderboards", "no leaderboard listed")
        return
    for b, board in enumerate(boards):
        where = f"leaderboards[{b}]."
        _text(fault, board, "title", LEADERBOARD_TITLE_MAX, "a leaderboard title", prefix=where)
        _text(fault, board, "key", LEADERBOARD_KEY_MAX, "a leaderboard key", prefix=where)
        if board.get("submission_rule", "Add") not in SUBMISSION_RULES:
            fault(where + "submission_rule", f"must be one of {', '.join(SUBMISSION_RULES)}")
        columns = board.get("columns") or []
        if not columns:
            fault(where + "columns", "a leaderboard needs at least one column")
            continue
        indices = [c.get("index") for c in columns]
        keys = [c.get("key") for c in columns]
        if len(set(indices)) != len(indices):
            fault(where + "columns", "column indexes must be unique")
        if len(set(keys)) != len(keys):
            fault(where + "columns", "column keys must be unique")
        for c, column in enumerate(columns):
            cwhere = f"{where}columns[{c}]."
            _text(fault, column, "key", COLUMN_KEY_MAX, "a column key", prefix=cwhere)
            _text(fault, column, "title", COLUMN_TITLE_MAX, "a column title", prefix=cwhere)
            if column.get("sorting", "desc") not in COLUMN_SORTING:
                fault(cwhere + "sorting", "must be desc or asc")
        if board.get("primary_index", 0) not in indices:
            fault(where + "primary_index", "must be the index of one of the leaderboard's columns")
