"""Review at scale (issue 21): a graded file's answers grouped by meaning (`grouping`), decisions
on groups or single answers kept in SQLite beside the file (`store`), the review loop's logic and
its text (`session`), rubric synonyms proposed from corrections (`suggest`), and regrading only
the questions whose rubric, references or model changed (`regrade`). `graded` reads the file
`grader batch` wrote."""
