"""Each package keeps a narrow public surface: `__all__` lists exactly its public names, and they all exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "archive",
    "patterns",
    "router",
    "router.config",
    "router.connections",
    "router.schedules",
    "router.schedules.scheduler",
    "router.services",
    "schemas",
    "schemas.api",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_all_names_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported), "duplicate names in __all__"
    for item in exported:
        assert not item.startswith("_"), item
        assert hasattr(module, item), f"{name}.{item} is listed in __all__ but missing"
    public = {n for n in vars(module) if not n.startswith("_")} - {"annotations"}
    submodules = {n for n in public if type(getattr(module, n)).__name__ == "module"}
    assert public - submodules == set(exported), f"{name} exposes names not in __all__"
