# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of latest_checkpoint."""

from __future__ import annotations

from monai_ext.handlers import latest_checkpoint


def test_latest_by_number_not_by_name(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    for n in (9, 12, 100):
        (tmp_path / f"checkpoint_checkpoint_iteration={n}.pt").write_bytes(b"x")
    (tmp_path / "model.pt").write_bytes(b"x")
    assert latest_checkpoint(tmp_path).endswith("iteration=100.pt")
