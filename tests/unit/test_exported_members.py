"""The package's public API is what ``__all__`` says, and every name in it exists."""

import rampwire


def test_all_names_exist_once() -> None:
    for name in rampwire.__all__:
        assert hasattr(rampwire, name), name
    assert len(set(rampwire.__all__)) == len(rampwire.__all__)


def test_public_members_are_exported() -> None:
    public = {name for name in vars(rampwire) if not name.startswith("_")}
    modules = {name for name, value in vars(rampwire).items() if type(value).__name__ == "module"}
    assert public - modules == set(rampwire.__all__) - {"__version__"}
