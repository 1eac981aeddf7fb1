# Copyright (c) monai_ext contributors
# SPDX-License-Identifier: Apache-2.0
"""Helpers several test files shared as copies, imported by ``tests/conftest.py`` (which also offers them as fixtures).

- :func:`dciodvfy_report` / :func:`dciodvfy_errors`: the DICOM IOD validator of Debian's dicom3tools on a file; a test
  calling them is skipped (``unittest.SkipTest``, which pytest also honours) where the tool is not installed.
- :func:`pydicom_sample`: a sample file of the installed pydicom / pydicom-data packages (never downloaded); skips
  the test where it is not installed.
- :func:`n_params`: parameter count of a module.
- :func:`parse_bundle_configs`: a bundle's config files merged as ``--config_file "[...]"`` merges them, with
  overrides, unparsed (MONAI ``ConfigParser``).

Test files import them as ``from tests.fixtures import dciodvfy_errors``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unittest

import torch.nn as nn
from pydicom.data import get_testdata_file

__all__ = ["dciodvfy_errors", "dciodvfy_report", "n_params", "parse_bundle_configs", "pydicom_sample"]


def dciodvfy_report(path: str | os.PathLike) -> str:
    """Everything ``dciodvfy`` prints (stdout and stderr) for a file.

    Args:
        path: the DICOM file.

    Returns:
        the report.

    Raises:
        unittest.SkipTest: dciodvfy (dicom3tools) is not installed.
    """
    exe = shutil.which("dciodvfy")
    if exe is None:
        raise unittest.SkipTest("dciodvfy (dicom3tools) is not installed")
    run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60, check=False)
    return run.stdout + run.stderr


def dciodvfy_errors(path: str | os.PathLike) -> list[str]:
    """The "Error" lines dciodvfy prints for a file (warnings are not errors); skips the test without the tool.

    Args:
        path: the DICOM file.

    Returns:
        the error lines; ``[]`` for a valid file.
    """
    return [line for line in dciodvfy_report(path).splitlines() if line.startswith("Error")]


def pydicom_sample(name: str) -> str:
    """A sample file from the installed pydicom / pydicom-data packages (never downloaded).

    Args:
        name: the file name, e.g. ``"US1_UNCR.dcm"``.

    Returns:
        its path.

    Raises:
        unittest.SkipTest: the file is not installed.
    """
    path = get_testdata_file(name, download=False)
    if path is None:
        raise unittest.SkipTest(f"{name} is not installed (pydicom / pydicom-data)")
    return str(path)


def n_params(module: nn.Module, trainable: bool = False) -> int:
    """Number of parameters of a module.

    Args:
        module: the module.
        trainable: count only parameters with ``requires_grad``.

    Returns:
        the count.
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def parse_bundle_configs(bundle_dir: str | os.PathLike, configs: list[str], **override):
    """A ``ConfigParser`` over ``<bundle_dir>/configs/<c>`` for each of ``configs`` (merged in order), with each
    ``override`` (``#`` ids allowed) set, nothing parsed yet."""
    from monai.bundle import ConfigParser

    cfg = ConfigParser()
    cfg.read_config([os.path.join(bundle_dir, "configs", c) for c in configs])
    for k, v in override.items():
        cfg[k] = v
    return cfg
