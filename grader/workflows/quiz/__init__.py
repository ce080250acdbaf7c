"""Practice mode: planning, sessions, progress and overrides (`session`) over a SQLite history of
answers and spaced-repetition cards (`store`)."""
