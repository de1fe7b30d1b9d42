"""Remote workers get our code the way Beam ships it: ``--setup_file=pyproject.toml`` builds an sdist that every
worker pip-installs. Build it exactly as Beam's stager does and check nothing a worker needs is missing."""

import subprocess
import sys
import tarfile
import zipfile

import pytest
from apache_beam.runners.portability.stager import Stager

from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sdist_built_by_beams_stager_carries_every_package(tmp_path):
    sdist = Stager._build_setup_package(str(REPO / "pyproject.toml"), str(tmp_path), None)
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    for module in ("jpcorpus/cli.py", "pipeline/run.py", "pipeline/langid.py", "pipeline/stage.py"):
        assert any(n.endswith(module) for n in names), module
    # A worker installs the sdist; the wheel it builds must hold the same modules (and package data).
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), sdist],
        check=True,
        timeout=240,
    )
    (wheel,) = wheel_dir.glob("jpcorpus-*.whl")
    members = zipfile.ZipFile(wheel).namelist()
    for package in ("jpcorpus", "pipeline", "filters", "tokenizer", "train", "index"):
        assert f"{package}/__init__.py" in members, package
    # package data the code opens at run time: the word lists and the search page of `jpcorpus serve`
    for data in ("index/static/search.html", "filters/data/ja_adult_keywords.txt"):
        assert data in members, data
    sources = sorted(
        p.relative_to(REPO).as_posix() for pkg in ("pipeline", "jpcorpus") for p in (REPO / pkg).glob("*.py")
    )
    assert set(sources) <= set(members)
