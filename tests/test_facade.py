"""``power_director``'s face to Python code: typed names that load on first use, a version, and
``python -m power_director``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import power_director
from reports.version import tool_version

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_sees_measure_s_real_signature(tmp_path: Path) -> None:
    """With the names resolved only by ``__getattr__``, mypy typed ``measure`` as ``Any`` and let a
    wrong call pass; the ``TYPE_CHECKING`` imports give it the real signature."""
    snippet = tmp_path / "user_code.py"
    snippet.write_text(
        "import power_director\n\n"
        "power_director.measure(meter=123, bogus_kw=True)\n"
        "reveal_type(power_director.measure)\n"
        "monitor: power_director.PowerMonitor = power_director.measure(meter='sim')\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--ignore-missing-imports", "--no-error-summary",
         "--cache-dir", str(tmp_path / "mypy-cache"), str(snippet)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stdout + done.stderr
    assert [line for line in lines if ": error:" in line] == [
        f'{snippet}:3: error: Unexpected keyword argument "bogus_kw" for "measure"  [call-arg]'
    ]
    revealed = next(line for line in lines if "Revealed type" in line)
    assert "-> power_director.api.PowerMonitor" in revealed and "interval_ms" in revealed


def test_every_public_name_resolves_and_dir_lists_them() -> None:
    for name in power_director.__all__:
        assert getattr(power_director, name) is not None
    assert set(power_director.__all__) <= set(dir(power_director))
    assert "importlib" not in dir(power_director)  # the facade's helpers are not API
    assert power_director.SessionResult.__module__ == "reports.model.results"


def test_version_from_the_installed_metadata() -> None:
    assert power_director.__version__ == tool_version() != "unknown"
    done = subprocess.run([sys.executable, "-m", "power_director", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"power-director {power_director.__version__}")


def test_the_packages_say_they_are_typed() -> None:
    """PEP 561: a type checker reads an installed package's hints only with ``py.typed``."""
    for package in ("analyzer_drivers", "loadgen_bridge", "power_director", "reports"):
        assert (ROOT / package / "py.typed").is_file()
    assert 'power_director = ["py.typed"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
