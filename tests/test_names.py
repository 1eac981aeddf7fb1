# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""No public name of monai_ext may equal a name MONAI's short-name locator finds (docs/methods/bundles.md, "Names")."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import monai
from monai.bundle.config_item import ComponentLocator

import monai_ext


def _monai_names() -> set[str]:
    for mod in pkgutil.walk_packages(monai.__path__, "monai."):
        if any(p in mod.name for p in (".csrc", "_C", ".tests")):
            continue
        try:
            importlib.import_module(mod.name)
        except Exception:  # optional dependencies (tensorrt, nvidia libraries, ...) are not installed here
            continue
    names: set[str] = set()
    locator = ComponentLocator()
    for name, modules in locator._find_classes_or_functions(locator._find_module_names()).items():
        if any(not m.startswith("monai_ext") for m in modules):
            names.add(name)
    return names


def _public_names() -> dict[str, str]:
    out = {}
    for mod in pkgutil.walk_packages(monai_ext.__path__, "monai_ext."):
        module = importlib.import_module(mod.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                out[name] = mod.name
    return out


def test_no_monai_name_is_reused():
    monai_names, ours = _monai_names(), _public_names()
    assert {"UNet", "DiceLoss", "MeanDice", "CheckpointSaver", "LoadImaged"} <= monai_names  # the scan works
    assert {"SemiSupervisedTrainer", "USUNet", "USDiceHandler", "UltrasoundDicomReader"} <= set(ours)
    clashes = {n: m for n, m in ours.items() if n in monai_names}
    assert clashes == {}
