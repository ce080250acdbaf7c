"""The README's command table and the click app name the same commands."""

import re
from pathlib import Path

import click

from grader.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> set[str]:
    """Command paths named in the table, e.g. "questions list"; `grader cache info` / `warm` /
    `clear` names three."""
    found = set()
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `grader "):
            continue
        cell = line.split("|")[1]
        first = re.match(r"\s*`grader ([^`]+)`", cell).group(1)
        words = [w for w in first.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
        found.add(" ".join(words))
        for extra in re.findall(r"/\s*`([a-z][a-z-]*)`", cell):
            found.add(" ".join(words[:-1] + [extra]))
    return found


def app_commands(group: click.Group = main, prefix=()) -> set[str]:
    found = set()
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        if isinstance(cmd, click.Group):
            found |= app_commands(cmd, path)
        else:
            found.add(" ".join(path))
    return found


def test_every_command_in_the_readme_exists(runner):
    named = readme_commands()
    assert "questions list" in named and "cache clear" in named
    for command in sorted(named):
        out = runner.invoke(main, [*command.split(), "--help"])
        assert out.exit_code == 0, f"README names `grader {command}`, which the app does not have"


def test_every_command_of_the_app_is_in_the_readme():
    missing = sorted(app_commands() - readme_commands())
    assert not missing, ("commands missing from the README command table (add a row for each): "
                         + ", ".join(f"grader {m}" for m in missing))


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    assert (tmp_path / "graded.csv").read_text(encoding="utf-8").count("\n") == 2
