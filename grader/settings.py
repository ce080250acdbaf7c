"""Names and numbers that several layers share: environment variables and grading thresholds.
Each is defined once here; modules import them rather than repeat a literal."""

# Environment variables (each also a command-line option where it applies).
BANK_ENV = "GRADER_BANK"            # a question bank directory
RUBRICS_ENV = "GRADER_RUBRICS"      # a rubrics directory
MODEL_ENV = "GRADER_MODEL"          # a model directory or model.json from `grader calibrate`
DB_ENV = "GRADER_DB"                # the quiz history database
CACHE_ENV = "GRADER_CACHE_DIR"      # the on-disk vector cache directory, or "off"
BACKEND_ENV = "GRADER_EMBEDDER"     # the embedding backend

# Grading.
MAX_ANSWER_CHARS = 5000   # past this an answer is cut before embedding; the note says so
JUDGE_AGREES = 0.5        # the semantic judge's probability from which it counts as saying "right"
E5_CASCADE_CONFIDENCE = 0.7   # answers the fast signals are this sure of skip the e5 encoder
