"""Studies: many runs, one Optuna database of trials, analysis and reports."""
