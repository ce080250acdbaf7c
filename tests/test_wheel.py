"""The wheel carries everything grading needs: built from the checkout, installed outside it, it
grades an answer against the bundled bank, rubrics, model and judge."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_grades(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(dist.glob("grader-*.whl"))
    target = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                              str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    # Dependencies from this environment, the package itself only from the wheel's install.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), sysconfig.get_paths()["purelib"]]),
           "GRADER_CACHE_DIR": "off", "HF_HUB_OFFLINE": "1"}
    code = ("import json, grader; from grader import Grader; g = Grader.from_paths(); "
            "r = g.grade('q004-035', 'Dropout randomly switches off neurons while training to curb overfitting.'); "
            "print(json.dumps({'file': grader.__file__, 'label': r.label, 'n': len(g.bank.questions)}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(target))
    assert out["label"] == "correct" and out["n"] > 200
