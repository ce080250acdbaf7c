"""Layer 3, signals: what is measured of one answer against its question. `registry` names every
signal; `features` assembles the feature matrix (FEATURES, in registry slot order); `concepts`
matches rubric concepts in an answer; `cohort` and `memory` are the extra signal families of
calibrated models. Imports only the bank, core and base layers."""
