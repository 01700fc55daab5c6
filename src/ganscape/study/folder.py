"""The study folder and what it points to: study.json, spec.yaml, where the
Optuna storage is and whether it can be read, and whether the run folders
under trials/ belong to the trials the storage records.

study.json names the storage by a file relative to the folder ("study.db")
unless `--storage URL` was given, which is kept as given. So a study folder
can be copied or moved and still uses its own database. study.json files
written before that named an absolute `sqlite:////.../study.db`; they still
load: a path inside the folder is used, and a path outside it while the
folder holds a study.db means the folder was copied or moved, so its own
study.db is used, with a note saying so.

A damaged storage (truncated, random bytes, a text file, an empty file, a
database without this study) is one line naming the file, never a
traceback from the database layer.
"""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

from ..registry import ConfigError
from .spec import StudySpec, parse_spec

DB_NAME = "study.db"
SQLITE_MAGIC = b"SQLite format 3\x00"
_told: Set[str] = set()  # notes already printed by this process (the progress bar reads the study every 2 s)


class StudyStorageError(ValueError):
    """The study's storage is missing, damaged or does not hold the study (one line)."""


def read_meta(out: Path) -> Dict[str, Any]:
    path = Path(out) / "study.json"
    if not path.exists():
        raise FileNotFoundError(f"{out} is not a ganscape study folder (no study.json)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise StudyStorageError(f"{path} cannot be read ({e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("storage"), str):
        raise StudyStorageError(f"{path} is not a study.json written by ganscape (no storage)")
    return meta


def read_spec(out: Path) -> StudySpec:
    import yaml
    if not (Path(out) / "study.json").exists() or not (Path(out) / "spec.yaml").exists():
        raise FileNotFoundError(f"{out} is not a ganscape study folder (no study.json and spec.yaml)")
    text = (Path(out) / "spec.yaml").read_text()
    return parse_spec(yaml.safe_load(text), text)


def check_storage_url(url: str) -> str:
    """An explicit --storage must be an SQLAlchemy URL (a bare path would be taken as one and fail later)."""
    if "://" not in url:
        raise ConfigError(f"--storage: expected an SQLAlchemy URL such as sqlite:///path/study.db or "
                          f"postgresql://user@host/db, got {url!r}")
    return url


def _note(out: Path, text: str) -> None:
    if text not in _told:
        _told.add(text)
        print(f"note: {text}", file=sys.stderr)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def sqlite_file(url: str) -> Optional[Path]:
    """The file of an sqlite URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:" or "mode=memory" in url:
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def storage_url(out: Path, meta: Optional[Dict[str, Any]] = None) -> str:
    """The SQLAlchemy URL of a study folder's storage (see the module's doc)."""
    out = Path(out)
    meta = meta if meta is not None else read_meta(out)
    value = meta["storage"]
    if "://" not in value:  # the default: a file of the folder, named relative to it
        return f"sqlite:///{(out / value).resolve()}"
    path = sqlite_file(value)
    if path is None or not path.is_absolute() or _inside(path, out):
        return value
    own = out / DB_NAME
    if own.exists():  # an old study.json of a folder that was copied or moved since
        _note(out, f"{out / 'study.json'} names the storage {path}, outside this folder (it was copied or "
                   f"moved); using {own}")
        return f"sqlite:///{own.resolve()}"
    if not path.exists():
        raise StudyStorageError(f"{out / 'study.json'} names the storage {path}, which does not exist, and "
                                f"{out} holds no {DB_NAME}")
    return value  # an explicit sqlite storage elsewhere


def stored_form(out: Path, url: str) -> str:
    """What study.json stores for the storage `url`: the folder's own file
    relative to the folder, any other URL as given."""
    path = sqlite_file(url)
    if path is not None and path.is_absolute() and path.resolve() == (Path(out) / DB_NAME).resolve():
        return DB_NAME
    return url


def check_sqlite(url: str, must_exist: bool) -> None:
    """One line, naming the file, when an sqlite storage cannot hold a study:
    missing (where it must exist), empty (where it must hold trials), not an
    SQLite file, or damaged (sqlite's quick_check). Other databases pass."""
    path = sqlite_file(url)
    if path is None:
        return
    if not path.exists():
        if must_exist:
            raise StudyStorageError(f"the study's storage {path} does not exist (deleted or moved?)")
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StudyStorageError(f"the study's storage {path} cannot be read ({e.strerror or e})") from None
    if not head:
        if must_exist:
            raise StudyStorageError(f"the study's storage {path} is empty (0 bytes): it holds no trials")
        return  # `study run` on an empty file: Optuna creates its tables (trial folders are checked apart)
    if head != SQLITE_MAGIC:
        raise StudyStorageError(f"the study's storage {path} is not an SQLite database (replaced or "
                                f"overwritten?); restore it, or move it away to start the study afresh")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=120)
        try:
            problems = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
        finally:
            con.close()
    except sqlite3.Error as e:
        raise StudyStorageError(f"the study's storage {path} is damaged ({e}); restore it, or move it "
                                f"away to start the study afresh") from None
    if problems != ["ok"]:
        raise StudyStorageError(f"the study's storage {path} is damaged ({problems[0]}); restore it, or move "
                                f"it away to start the study afresh")


def describe_db_error(url: str, e: BaseException) -> str:
    """One line for an error of the database layer, naming the storage."""
    where = sqlite_file(url) or url.split("@")[-1]  # no password of a server URL in the message
    first = str(getattr(e, "orig", None) or e).strip().splitlines()
    return f"the study's storage {where} cannot be used ({first[0] if first else type(e).__name__})"


# ---- the trial folders against the trials --------------------------------------------------
def settings_diff(run: Path, cfg: Any) -> Optional[List[tuple]]:
    """(key, folder's value, trial's value) where a run folder's recorded
    config differs from the config `cfg` a trial would train with; the
    run's name (retries train in the folder of the trial they replace) is
    no difference. None when the folder records no readable config yet."""
    from ..config import config_diff, to_plain
    path = Path(run) / "config.json"
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    return [d for d in config_diff(recorded, to_plain(cfg)) if d[0] != "name"]


def describe_diff(diff: List[tuple], limit: int = 3) -> str:
    def show(v: Any) -> str:
        return "(absent)" if v.__class__ is object else repr(v)
    text = ", ".join(f"{k}: {show(a)} there, {show(b)} for the trial" for k, a, b in diff[:limit])
    return text + (f" (and {len(diff) - limit} more)" if len(diff) > limit else "")
