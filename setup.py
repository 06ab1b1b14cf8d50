"""The shipped cases (scenarios/) and inputs (inputs/) as data files, installed under
<prefix>/share/mfa/ by ``pip install .`` and by a wheel, so ``mfa run`` works from any
directory (mfa.config.project_root looks there last). The folders stay at the repository
root, where the project layout wants them; listing them here, walked at build time, means
a new case or input table travels without editing any list. Everything else is in
pyproject.toml."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


def data_files(*folders: str) -> list[tuple[str, list[str]]]:
    """(install folder, files) for every folder under ``folders`` that holds files."""
    out = []
    for folder in folders:
        for directory in sorted(p for p in [HERE / folder, *(HERE / folder).rglob("*")] if p.is_dir()):
            files = sorted(str(f.relative_to(HERE)) for f in directory.iterdir() if f.is_file())
            if files:
                out.append((str(Path("share/mfa") / directory.relative_to(HERE)), files))
    return out


setup(data_files=data_files("scenarios", "inputs"))
