"""Layer 3, signals: what is measured of one answer against its question. `registry` names every
signal; `features` assembles the feature matrix (FEATURES, in registry slot order) from the signal
families, one module each (`similarity`, `coverage`, `polarity`, `lexical`, `shape`, `alignment`,
`e5`), which read a per-group `context`; `concepts` matches rubric concepts in an answer; `cohort`
and `memory` are the extra signal families of calibrated models. Imports only the bank, core and
base layers."""
