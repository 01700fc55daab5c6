"""Studies: many runs, one Optuna database of trials, analysis and reports.

    from ganscape import study
    study.run("loss-digits", "studies/loss-digits", workers=2)
    study.status("studies/loss-digits")
    study.make_report("studies/loss-digits")  # -> [report.html, report.md, csv/...]
    table = study.load_table("studies/loss-digits")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Union

from .runner import run_study as run
from .spec import StudySpec, list_specs, load_spec
from .storage import counts as status
from .storage import load_table

__all__ = ["run", "status", "make_report", "load_table", "load_spec", "list_specs", "StudySpec"]


def make_report(path: Union[str, Path]) -> List[Path]:
    """report.html (+ report.md and CSV tables for a study) of a study
    folder or of a run folder; returns the files written."""
    from ..train import rundir
    from . import analysis
    from . import report as _report
    from .runner import load_optuna_study, read_meta, read_spec
    path = Path(path)
    if (path / "study.json").exists():
        spec, meta = read_spec(path), read_meta(path)
        study = load_optuna_study(path, spec)
        table = load_table(path, study)
        imp = analysis.importance(study)
        ran_with = {k: meta[k] for k in ("trials", "overrides", "steps") if k in meta}
        html, md = _report.study_report(path, table, spec.text, spec.factors, importance=imp,
                                        direction=spec.objective.direction, metric_name=spec.objective.key,
                                        ran_with=ran_with)
        csvs = analysis.write_csvs(table, path / "csv", spec.factors, direction=spec.objective.direction)
        return [Path(html), Path(md), *map(Path, csvs.values())]
    if rundir.is_run_dir(path):
        return [Path(_report.run_report(path))]
    raise FileNotFoundError(f"{path} is neither a study folder (study.json) nor a run folder (config.json)")

