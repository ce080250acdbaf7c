"""Calibration and evaluation on labelled files: label schemes and loading (`labels`), folds, fitting
and cross-validation (`fitting`), and the runs with their metadata (`run.calibrate`,
`run.evaluate`, `run.save_run`). The answer memory lives in `grader.signals.memory`."""
