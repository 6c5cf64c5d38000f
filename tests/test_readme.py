"""The README's promises: the two commands come first and the quickstart runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_starts_with_the_two_commands():
    """The first code block is exactly `make demo` and `make test`."""
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```sh\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    assert text.index("make demo") < text.index("## ")


@pytest.mark.slow
def test_quickstart_runs(tmp_path, monkeypatch):
    """The quickstart block runs and prints a prediction (about 10 lines, as promised)."""
    code = _blocks("python")[0]
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README quickstart", "exec"), namespace)  # noqa: S102
    risk = namespace["risk"]
    assert 0.0 < risk["death"].probability < 1.0
    assert (tmp_path / "model.crmodel").stat().st_size > 1000


@pytest.mark.parametrize("target", ["demo", "test", "bench"])
def test_makefile_has_the_targets_the_readme_names(target):
    """Every make target the README names exists."""
    makefile = (README.parent / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, re.M)
