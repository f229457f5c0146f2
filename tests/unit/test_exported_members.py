"""The package's public API is what ``__all__`` says, and every name in it exists."""

import subprocess
import sys

import rampwire


def test_all_names_exist_once() -> None:
    for name in rampwire.__all__:
        assert hasattr(rampwire, name), name
    assert len(set(rampwire.__all__)) == len(rampwire.__all__)


def test_public_members_are_exported() -> None:
    public = {name for name in dir(rampwire) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(rampwire, name)).__name__ == "module"}
    assert public - modules == set(rampwire.__all__) - {"__version__"}


def test_the_public_names_load_when_used() -> None:
    """``import rampwire`` (first, for any ``rampwire.*``) loads none of them: the client and
    the CLI over the API stay light."""
    code = (
        "import sys, rampwire; print(sorted(m for m in sys.modules if m.startswith('rampwire')));"
        "print(rampwire.Settings.__name__, rampwire.__version__ == rampwire.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, used = done.stdout.splitlines()
    assert loaded == "['rampwire']"
    assert used == "Settings True"
