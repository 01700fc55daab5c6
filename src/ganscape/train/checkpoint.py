"""Checkpoints: plain state dicts plus config and step, written atomically,
loaded with weights_only=True. Never pickled code.

Layout: checkpoints/latest.pt (the newest), previous.pt (the one before it),
step_NNNNNN.pt (kept every `checkpoint_every` steps), best.pt (the best
evaluation so far).

Crash safety. Every file is written as NAME.tmp in the same folder, flushed,
fsynced and renamed over NAME, and the folder is fsynced, so a file is either
the old one or the new one, never a mixture. `save_latest` writes the new
checkpoint to latest.pt.tmp *before* touching latest.pt, then makes the old
latest.pt the new previous.pt (a hard link renamed over previous.pt, so that
latest.pt never disappears), then renames the temp file over latest.pt. A kill
or a failed write (disk full, read-only folder) at any point therefore leaves
latest.pt of the newest completed save, or previous.pt of it while the final
rename has not happened yet. A latest.pt that does not load is never rotated
into previous.pt: it is moved aside as latest.pt.corrupt first.

Leftover NAME.tmp files (from a kill) are removed by `clean_orphans` when a
run starts or resumes.

Integrity. Every checkpoint carries "digest", a SHA-256 of its content (see
digest.py), checked on every load: bytes overwritten inside a tensor fail the
check and the checkpoint is treated like a truncated one (the next older one
is used). Checkpoints written before digests existed have none and load as
before. A file whose pickle refers to code (a global such as os.system) is
refused by torch's weights_only unpickler before anything runs; the error
says so and never suggests loading it another way.
"""
from __future__ import annotations

import errno
import io
import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch

from .digest import payload_digest

# 2: nets, optimizers and EMA copies stored by the names the method gave
#    them ({"nets": {"G": ..., "D": ...}, "optims": {...}, "ema": {...}});
# 1: a GAN's G, D, opt_g, opt_d, G_ema at the top level (read and upgraded).
FORMAT = 2
TMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt"


class CheckpointError(RuntimeError):
    """No usable checkpoint (missing, truncated, corrupt or of another format).
    `why`: what is wrong with the file, as "is truncated or corrupt", "fails
    its digest check", "holds code and was refused"."""

    def __init__(self, message: str, why: str = "is unusable"):
        super().__init__(message)
        self.why = why


class WriteError(OSError):
    """A file of the run folder could not be written (disk full, read-only
    folder, ...). The message names the path and the cause in one line."""

    def __init__(self, path: Path, cause: OSError):
        reason = cause.strerror or str(cause) or type(cause).__name__
        super().__init__(cause.errno, f"cannot write {path}: {reason.lower()}")
        self.path, self.cause = Path(path), cause

    def __str__(self) -> str:
        return self.strerror


def describe_os_error(e: OSError, path: Optional[Path] = None) -> str:
    """One line naming the file and the cause of an OSError."""
    if isinstance(e, WriteError):
        return str(e)
    where = path or e.filename or "a file of the run folder"
    reason = (e.strerror or str(e) or type(e).__name__).lower()
    if e.errno == errno.ENOSPC:
        reason = "no space left on device"
    return f"cannot write {where}: {reason}"


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        pass


def _write_file(tmp: Path, payload: Dict[str, Any]) -> None:
    # Serialized in memory first: torch.save's zip writer turns a full disk
    # into a RuntimeError from a destructor; a plain write gives the OSError
    # (ENOSPC, EROFS, EIO...) that names the cause.
    content = {"format": FORMAT, **payload}
    content["digest"] = payload_digest(content)  # once per write: one pass over the tensors
    buf = io.BytesIO()
    torch.save(content, buf)
    with open(tmp, "wb") as f:
        f.write(buf.getbuffer())
        f.flush()
        os.fsync(f.fileno())


def _write_tmp(path: Path, payload: Dict[str, Any]) -> Path:
    """The payload in PATH.tmp (complete and fsynced), or WriteError with no
    temp file left behind."""
    path = Path(path)
    tmp = path.with_name(path.name + TMP_SUFFIX)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_file(tmp, payload)
    except OSError as e:
        _remove(tmp)
        raise WriteError(path, e) from None
    except BaseException:  # KeyboardInterrupt mid-write: leave no partial file
        _remove(tmp)
        raise
    return tmp


def _commit(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise WriteError(path, e) from None
    _fsync_dir(path.parent)


def save(path: Path, payload: Dict[str, Any]) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename."""
    path = Path(path)
    _commit(_write_tmp(path, payload), path)


def save_latest(folder: Path, payload: Dict[str, Any]) -> None:
    """latest.pt <- payload, the old latest.pt -> previous.pt; see the module
    docstring for why the order of these steps keeps a good checkpoint on disk
    at every instant."""
    folder = Path(folder)
    latest, previous = folder / "latest.pt", folder / "previous.pt"
    tmp = _write_tmp(latest, payload)
    try:
        if latest.exists():
            if not _loads(latest):
                quarantine(latest, "it does not load")
            else:
                _rotate(latest, previous)
    except OSError as e:
        _remove(tmp)
        raise WriteError(previous, e) from None
    except BaseException:
        _remove(tmp)
        raise
    _commit(tmp, latest)
    _verified[latest.resolve()] = _signature(latest)


_verified: Dict[Path, Tuple[int, int]] = {}  # file -> (size, mtime_ns) known to load


def _signature(path: Path) -> Tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _loads(path: Path) -> bool:
    """Whether `path` is a loadable checkpoint. A file this process wrote or
    loaded and that has not changed since is trusted without reading it again."""
    path = Path(path)
    sig = _signature(path)
    if _verified.get(path.resolve()) == sig:
        return True
    try:
        load(path)
    except CheckpointError:
        return False
    _verified[path.resolve()] = sig
    return True


def _rotate(latest: Path, previous: Path) -> None:
    """previous.pt <- latest.pt, leaving latest.pt in place (a hard link renamed
    over previous.pt) where the file system allows it, else by a rename."""
    link = previous.with_name(previous.name + TMP_SUFFIX)
    _remove(link)
    try:
        os.link(latest, link)
    except OSError:
        os.replace(latest, previous)  # no hard links here: latest.pt is missing until the commit
    else:
        os.replace(link, previous)
    sig = _verified.pop(latest.resolve(), None)
    if sig is not None:
        _verified[previous.resolve()] = sig


def quarantine(path: Path, why: str) -> Path:
    """Move an unusable checkpoint aside as NAME.corrupt (never deleted: it may
    still be of use to a person) and warn with its new name."""
    path = Path(path)
    dest = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, dest)
    _verified.pop(path.resolve(), None)
    warnings.warn(f"checkpoint {path} {why}; moved aside to {dest.name}", CheckpointWarning, stacklevel=3)
    return dest


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped or moved aside."""


def clean_orphans(folder: Path) -> List[Path]:
    """Remove temporary files a killed write left behind (NAME.tmp, or an empty
    folder of that name). Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for p in folder.glob("*" + TMP_SUFFIX):
        try:
            if p.is_dir():
                p.rmdir()  # only when empty: a folder with content is not ours to delete
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


_GLOBAL_IN_ERROR = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL)\s+([\w.]+)")
_SCAN_LIMIT = 64 << 20  # bytes of pickle data looked at for references to code


def _pickle_bytes(path: Path) -> bytes:
    """The pickle stream of a checkpoint file: data.pkl of torch's zip
    format, or the whole file (a plain pickle). Empty when unreadable."""
    import zipfile
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith("data.pkl")]
                return z.read(names[0])[:_SCAN_LIMIT] if names else b""
        with open(path, "rb") as f:
            return f.read(_SCAN_LIMIT)
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile):
        return b""


def _code_reference(path: Path) -> Optional[str]:
    """The first global (module.name) the pickle in `path` would import and
    call, found by reading its opcodes without running any of them; None if
    there is none (or the stream does not parse)."""
    import pickletools
    strings: List[str] = []
    try:
        for op, arg, _ in pickletools.genops(_pickle_bytes(path)):
            if op.name in ("GLOBAL", "INST"):
                return str(arg).replace(" ", ".")
            if op.name == "STACK_GLOBAL":
                return ".".join(strings[-2:]) if len(strings) >= 2 else "a global"
            if isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a truncated or random stream: whatever was found so far
        return None
    return None


def _load_error(path: Path, e: BaseException) -> CheckpointError:
    """One line for a file torch.load refused. torch's weights_only refusal
    wraps its finding in paragraphs of advice (re-running with
    weights_only=False, which ganscape never does and never suggests); keep
    only the finding, and say when the file refers to code."""
    text = str(e)
    m = _GLOBAL_IN_ERROR.search(text)
    code = m.group(1) if m else (_code_reference(path) if "Weights only load failed" in text
                                 or "WeightsUnpickler" in text else None)
    if code:
        return CheckpointError(f"checkpoint {path} holds code ({code}) and was refused; a ganscape checkpoint "
                               f"holds only tensors and plain values, and nothing in it was run",
                               why="holds code and was refused")
    if "WeightsUnpickler error:" in text:
        detail = " ".join(text.split("WeightsUnpickler error:", 1)[1].strip().split("\n\n")[0].split())
        finding = f"unreadable pickle data: {detail}"
    elif "Weights only load failed" in text:
        finding = "unreadable pickle data"
    else:
        lines = text.strip().splitlines()
        # the first sentence: torch's zip reader follows it with paragraphs of guesses
        finding = f"{type(e).__name__}: {lines[0].split('. ')[0]}" if lines else type(e).__name__
    return CheckpointError(f"checkpoint {path} is truncated or corrupt ({finding})", why="is truncated or corrupt")


def load(path: Path) -> Dict[str, Any]:
    """Load one checkpoint and check its digest; CheckpointError naming the
    file if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist", why="does not exist")
    try:
        with warnings.catch_warnings():  # torch's own advice about pickles; the error below says what matters
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle opcode, disallowed global, ...
        raise _load_error(path, e) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (1, FORMAT):
        raise CheckpointError(f"checkpoint {path} is not a ganscape checkpoint of format 1 or {FORMAT}",
                              why="is not a ganscape checkpoint")
    stored = ckpt.pop("digest", None)  # checkpoints written before digests existed have none
    if stored is not None and stored != payload_digest(ckpt):
        raise CheckpointError(f"checkpoint {path} is corrupt: its content does not match the digest stored "
                              f"with it (bytes inside it were changed after it was written)",
                              why="fails its digest check")
    return _upgrade(ckpt)


def _upgrade(ckpt: Dict[str, Any]) -> Dict[str, Any]:
    """A format-1 checkpoint (one GAN's nets at the top level) in format 2's layout."""
    if ckpt["format"] == FORMAT:
        return ckpt
    old = dict(ckpt)
    new = {k: v for k, v in old.items() if k not in ("G", "D", "opt_g", "opt_d", "G_ema")}
    new.update(format=FORMAT, nets={"G": old["G"], "D": old["D"]},
               optims={"G": old["opt_g"], "D": old["opt_d"]},
               ema={"G": old["G_ema"]} if "G_ema" in old else {})
    return new


def step_path(folder: Path, step: int) -> Path:
    return Path(folder) / f"step_{int(step):06d}.pt"


def candidates(folder: Path) -> List[Path]:
    """Checkpoints newest first: latest, previous, then step_N by decreasing N."""
    folder = Path(folder)
    steps = sorted(folder.glob("step_*.pt"), key=lambda p: -int(re.findall(r"\d+", p.stem)[0]))
    return [p for p in [folder / "latest.pt", folder / "previous.pt", *steps] if p.exists()]


def parse_which(which: Any) -> str:
    """'latest' | 'best' | a step number -> normalised; ValueError otherwise."""
    if which is None:
        return "latest"
    text = str(which).strip()
    if text in ("latest", "best"):
        return text
    if text.isdigit():
        return str(int(text))
    raise ValueError(f"checkpoint {which!r} is not allowed; choose latest, best or a step number (e.g. 1000)")


def load_newest(folder: Path, which: str = "latest", move_aside: bool = False) -> Tuple[Dict[str, Any], Path]:
    """The newest loadable checkpoint, falling back over damaged ones with a
    one-line warning that names each. `which`: latest | best | a step number.
    With move_aside (a resuming run, which will write new checkpoints), a
    damaged latest.pt / previous.pt is renamed to NAME.corrupt so that it can
    never be rotated over a good one."""
    folder = Path(folder)
    which = parse_which(which)
    if which != "latest":
        path = folder / "best.pt" if which == "best" else step_path(folder, int(which))
        if not path.exists():
            kept = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
            raise CheckpointError(f"checkpoint {path} does not exist; this run has: {', '.join(kept) or 'none'}")
        return load(path), path
    errors = []
    found = None  # (checkpoint, path) of the newest loadable one so far
    for path in candidates(folder):
        if found is not None:
            # latest.pt is newer than previous.pt, but a step_N.pt is written
            # before latest.pt moves on, so a kill in between leaves a kept
            # file newer than latest.pt: look at kept files past its step.
            if path.name == "previous.pt":
                continue
            if _step_of(path) <= found[0].get("step", -1):
                break
        try:
            ckpt = load(path)
        except CheckpointError as e:
            errors.append(str(e))
            if move_aside and path.name in ("latest.pt", "previous.pt"):
                quarantine(path, e.why)
            else:
                warnings.warn(f"{e}; trying an older checkpoint", CheckpointWarning, stacklevel=2)
            continue
        if found is None or ckpt.get("step", -1) > found[0].get("step", -1):
            found = ckpt, path
        if path.name.startswith("step_"):
            break  # kept files come newest first
    if found is not None:
        _verified[found[1].resolve()] = _signature(found[1])
        return found
    detail = "; ".join(errors) if errors else "none were written"
    raise CheckpointError(f"no usable checkpoint in {folder}: {detail}")


def _step_of(path: Path) -> int:
    m = re.fullmatch(r"step_(\d+)\.pt", path.name)
    return int(m.group(1)) if m else 1 << 62


def all_finite(modules: Iterable[torch.nn.Module]) -> bool:
    """Whether every floating-point parameter and buffer of `modules` is
    finite: one fused max-abs reduction per dtype/device group and a single
    host sync, so checking before each checkpoint write costs next to nothing."""
    tensors = [t.detach() for m in modules for t in (*m.parameters(), *m.buffers())
               if t.is_floating_point() and t.numel()]
    if not tensors:
        return True
    norms = torch._foreach_norm(tensors, float("inf"))
    return bool(torch.isfinite(torch.stack([n.float().to(norms[0].device) for n in norms])).all())
