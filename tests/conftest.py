import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The on-disk vector cache of this test session starts empty and never touches the user's.
os.environ["GRADER_CACHE_DIR"] = tempfile.mkdtemp(prefix="grader-test-cache-")

ROOT = Path(__file__).resolve().parent.parent
MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"


@pytest.fixture(scope="session")
def grader():
    """The bundled bank, rubrics and model with the real embedding model, loaded once."""
    from grader.grading import Grader

    return Grader.from_paths()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()
