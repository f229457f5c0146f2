"""rampwire.authorization's public API is what ``__all__`` says, and every name in it exists."""

import rampwire.authorization as authorization


def test_all_names_exist_and_are_sorted() -> None:
    for name in authorization.__all__:
        assert hasattr(authorization, name), name
    # constants, then classes, then functions: ruff's RUF022 order
    key = lambda n: (not n.isupper(), n.islower(), n)  # noqa: E731
    assert authorization.__all__ == sorted(authorization.__all__, key=key)


def test_public_members_are_exported() -> None:
    public = {name for name in vars(authorization) if not name.startswith("_")}
    modules = {
        name for name, value in vars(authorization).items() if type(value).__name__ == "module"
    }
    assert public - modules == set(authorization.__all__)
