# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Optional deployment packages: imported when present, a clear error naming the extra when absent."""

from __future__ import annotations

import sys

import pytest

from monai_ext.deploy import DEPLOY_EXTRA, require_deploy_package


def test_installed_package_is_returned():
    assert require_deploy_package("onnxruntime").InferenceSession is not None


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what Python does for a package that is not installed
    with pytest.raises(ImportError, match=r"the openvino backend needs the optional package 'openvino'.*"
                                          r"pip install 'monai_ext\[deploy\]'"):
        require_deploy_package("openvino")
    assert DEPLOY_EXTRA == "monai_ext[deploy]"
    with pytest.raises(ValueError, match="not one of"):
        require_deploy_package("tensorrt")


def test_core_import_pulls_in_no_runtime():
    import subprocess

    code = ("import sys, monai_ext, monai_ext.deploy, monai_ext.inference; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'openvino') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
