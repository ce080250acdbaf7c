"""grader: semantic, LLM-free grading of free-text answers.

    from grader import Grader
    grader = Grader.from_paths()                       # bundled bank, rubrics and model
    result = grader.grade("q004-035", "Dropout switches off random units while training.")
    print(result.label, result.score, result.missed_concepts)

Names are resolved on first use, so `import grader` loads no model and no numerical library.
"""

__version__ = "0.2.0"

_PUBLIC = {
    "Grader": "grading", "GradeResult": "grading", "user_question": "grading",
    "Question": "bank.questions", "Reference": "bank.questions", "load_bank": "bank.questions",
    "load_rubrics": "bank.rubrics",
    "BatchJob": "workflows.batch.job", "ColumnMap": "workflows.rows",
    "calibrate": "workflows.calibration.run", "load_labelled": "workflows.calibration.labels",
    "Options": "workflows.calibration.fitting",
    "QuizStore": "workflows.quiz.store", "default_db_path": "workflows.quiz.store",
    "plan_quiz": "workflows.quiz.session", "override_answer": "workflows.quiz.session",
    "progress": "workflows.quiz.session",
    "GradingModel": "model.classifier", "GraderError": "errors",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module 'grader' has no attribute {name!r}")
