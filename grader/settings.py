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

# Files read whole are refused past these sizes (a model path that is /dev/zero or a huge file
# would otherwise fill memory); each is many times the largest real one.
MAX_MODEL_BYTES = 256 * 2**20          # model.json (the bundled one is 3 MB)
MAX_MEMORY_BYTES = 512 * 2**20         # answer_memory.json
MAX_BANK_FILE_BYTES = 32 * 2**20       # one question bank YAML file (the largest bundled: 54 KB)
MAX_RUBRIC_FILE_BYTES = 4 * 2**20      # one rubric YAML file (the bundled ones: a few KB)
