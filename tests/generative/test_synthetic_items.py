# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""monai_ext.data.synthetic (the manifest reader used by the MGCC train config)."""

from __future__ import annotations

import json

import pytest

from monai_ext.data import USSyntheticManifestError, load_synthetic_items, read_synthetic_manifest


def _manifest(folder, files):
    p = folder / "manifest.json"
    p.write_text(json.dumps({"format": "monai_ext.synthetic_manifest", "files": files}))
    return p


def test_empty_means_no_synthetic_images():
    assert load_synthetic_items("") == []
    assert load_synthetic_items("   ") == []
    assert load_synthetic_items(None) == []


def test_items_relative_and_absolute(tmp_path):
    (tmp_path / "syn").mkdir()
    for n in ("syn_0000.png", "syn_0001.png"):
        (tmp_path / "syn" / n).write_bytes(b"x")
    other = tmp_path / "elsewhere.png"
    other.write_bytes(b"x")
    m = _manifest(tmp_path / "syn", ["syn_0000.png", {"image": "syn_0001.png"}, str(other)])
    items = load_synthetic_items(str(m))
    assert items == [
        {"image": str(tmp_path / "syn" / "syn_0000.png")},
        {"image": str(tmp_path / "syn" / "syn_0001.png")},
        {"image": str(other)},
    ]
    assert load_synthetic_items(m) == items  # Path works too


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest not found"):
        load_synthetic_items(str(tmp_path / "nope.json"))
    m = _manifest(tmp_path, ["a.png", "b.png"])
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"lists 1 missing file.*b\.png"):
        load_synthetic_items(str(m))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(USSyntheticManifestError, match="bad.json"):
        load_synthetic_items(str(tmp_path / "bad.json"))
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(USSyntheticManifestError, match="JSON object"):
        read_synthetic_manifest(tmp_path / "list.json")
    (tmp_path / "nofiles.json").write_text('{"files": []}')
    with pytest.raises(USSyntheticManifestError, match="non-empty list"):
        load_synthetic_items(str(tmp_path / "nofiles.json"))
    (tmp_path / "badentry.json").write_text('{"files": [3]}')
    with pytest.raises(USSyntheticManifestError, match=r"files\[0\]"):
        load_synthetic_items(str(tmp_path / "badentry.json"))
    with pytest.raises(TypeError, match="manifest must be a path"):
        load_synthetic_items(3)
