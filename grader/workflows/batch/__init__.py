"""Batch grading of a file: the job loop (`job.BatchJob`), resume and checkpoints (`resume`) and
the HTML report (`report`)."""
