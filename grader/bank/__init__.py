"""Layer 2, bank: questions and their reference answers (`questions`), rubrics and their loading
(`rubrics`), and the drafting of rubrics for questions that have none (`drafting.RubricDrafter`).
Imports only the core and base layers."""
