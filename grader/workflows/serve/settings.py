"""The server's names and limits, each defined once (the README's "Serve" section lists them).

The answer length limit is the package's own `MAX_ANSWER_CHARS` (grader.settings): the CLI cuts a
longer answer before grading, the API refuses it with 422 so that a platform never gets a grade
for text the model did not read.
"""

from grader.settings import MAX_ANSWER_CHARS

API_KEY_ENV = "GRADER_API_KEY"       # the API key, when --api-key is not given
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")   # hosts that may be bound without an API key

MAX_BODY_BYTES = 2 * 1024 * 1024     # a request body over this is refused: 413
MAX_BATCH_ITEMS = 100                # items of one POST /v1/grade/batch; more: 413
MAX_ANSWER = MAX_ANSWER_CHARS        # characters of one answer; more: 422 (a batch item: that item's error)
MAX_QUESTION_CHARS = 2000            # characters of an own question's text; more: 422
MAX_REFERENCES = 10                  # reference answers of an own question; more: 422
MAX_REFERENCE_CHARS = MAX_ANSWER_CHARS   # characters of one reference answer; more: 422
MAX_CONCEPTS = 20                    # concepts of a rubric sent with an own question; more: 422
MAX_REQUEST_RUBRICS = 1000           # rubrics sent with own questions kept in memory (the oldest go first)

# A grade whose confidence (the model's probability of its label) is under this comes with
# needs_review: true, for a platform to route it to a person (with three labels the confidence is
# at least 1/3).
REVIEW_CONFIDENCE = 0.6

PRACTICE_MAX_COUNT = 20              # questions in one practice round on the page
