"""Layer 6, workflows (above `grader.grading`, layer 5): jobs built on a Grader. `formats` (the one
registry of row formats), `rows` (columns and row-to-question resolution) and `paths` are shared;
`batch` grades files, `calibration` fits and evaluates models on labelled files, `quiz` is the
practice mode with its SQLite history, `reports` writes the HTML reports."""
