"""Release hygiene: the sdist and wheel install into a clean environment and work."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sdist_and_wheel_install_into_a_clean_environment(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # Without flags, build makes the sdist and then the wheel *from the sdist*, so a
    # file missing from the sdist breaks the wheel too.
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("trio_sockets-*.whl")
    (sdist,) = dist.glob("trio_sockets-*.tar.gz")
    assert sdist.stat().st_size > 0
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "trio_sockets/py.typed",
        "trio_sockets/__main__.py",
        "trio_sockets/examples/tcp_echo.py",
        "trio_sockets/examples/batched_sends.py",
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert not any(name.startswith("tests/") for name in names)
    (metadata_name,) = (name for name in names if name.endswith(".dist-info/METADATA"))
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in zipfile.ZipFile(wheel).read(metadata_name).decode().splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    # The progress bars of the command line are an extra, not a dependency of the library.
    assert [r for r in requires if r.startswith("tqdm")] == ['tqdm>=4.66; extra == "cli"']

    # The clean environment must not see a source tree through PYTHONPATH.
    clean = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
        env=clean,
    )
    imported = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util, trio_sockets, pathlib; "
            "assert importlib.util.find_spec('tqdm') is None; "
            "print(trio_sockets.__version__, pathlib.Path(trio_sockets.__file__).parent)",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean,
    )
    version, location = imported.stdout.split()
    assert version != "0+unknown"
    assert Path(location).is_relative_to(environment)
    demo = subprocess.run(
        [str(environment / "bin" / "trio-sockets"), "demo", "--service", "0"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=clean,
    )
    assert 'client received the response: "Hello, World!" ' in demo.stdout


def _lowest_constraints(pyproject: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lowest_constraints.py"), str(pyproject)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_dependency_is_pinned_at_its_lower_bound_for_make_test_lowest() -> None:
    """``make test-lowest`` installs under these pins: one per dependency, each at the
    version ``pyproject.toml`` allows as its lowest."""
    pyproject = ROOT / "pyproject.toml"
    result = _lowest_constraints(pyproject)
    assert result.returncode == 0, result.stderr
    pins = result.stdout.split()
    with pyproject.open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    assert pins == [requirement.replace(">=", "==") for requirement in dependencies]


def test_a_dependency_without_a_lower_bound_cannot_be_pinned(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["trio>=0.29", "idna<4"]\n')
    result = _lowest_constraints(pyproject)
    assert result.returncode == 1
    assert "'idna<4' has no plain lower bound" in result.stderr
