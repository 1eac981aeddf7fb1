# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Tests of monai_ext.data.splits on hand-made 8x8 PNG folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monai_ext.data.layouts import USDatasetError, list_dataset
from monai_ext.data.splits import (
    USSplitError,
    build_split,
    default_split_path,
    import_txt_split,
    load_split,
    make_split_file,
    read_id_list,
    split_datalist,
)

CLASSES = ("benign", "malignant", "normal")


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def patients(tmp_path_factory) -> Path:
    """60 patients (30 benign, 20 malignant, 10 normal), 1-3 images each, images/ + masks/ + dataset.json."""
    root = tmp_path_factory.mktemp("ds") / "patients"
    rng = np.random.default_rng(0)
    classes = {}
    for p in range(60):
        cls = CLASSES[0] if p < 30 else CLASSES[1] if p < 50 else CLASSES[2]
        for v in range(1 + p % 3):
            i = f"p{p:04d}_{v:02d}"
            classes[i] = cls
            _png(root / "images" / f"{i}.png", rng.integers(0, 256, (8, 8)))
            m = np.zeros((8, 8))
            if cls != "normal":
                m[2:5, 2:5] = 255
            _png(root / "masks" / f"{i}.png", m)
    meta = {"name": "tiny", "labels": {"lesion": [255]}, "group_regex": r"^(p\d+)_", "classes": classes}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def _groups(items):
    return {it["group"] for it in items}


def test_split_properties(patients, tmp_path):
    out = make_split_file(patients, out=tmp_path / "s.json", val=0.1, test=0.2, labeled=0.25, seed=0)
    split = load_split(out)
    tr, va, te = split["training"], split["validation"], split["test"]
    # every image exactly once
    images = [it["image"] for it in tr + va + te]
    assert len(images) == len(set(images)) == 120
    # group integrity and group counts (60 groups: 12 test, 6 validation, 42 training)
    assert not (_groups(tr) & _groups(va)) and not (_groups(tr) & _groups(te)) and not (_groups(va) & _groups(te))
    assert (len(_groups(te)), len(_groups(va)), len(_groups(tr))) == (12, 6, 42)
    # labelled groups: ceil(0.25 * 42) = 11; every image of a labelled group is labelled
    lab = [it for it in tr if it["labeled"]]
    assert len(_groups(lab)) == 11
    assert all(it["labeled"] for it in tr if it["group"] in _groups(lab))
    # unlabelled items carry no label key; labelled ones do
    assert all(("label" in it) == it["labeled"] for it in tr)
    assert all("label" in it and "labeled" not in it for it in va + te)
    # stratification: test holds 12 groups = 20 % of each class (6 benign, 4 malignant, 2 normal)
    cls_of_group = {it["group"]: split["classes"][it["image"]] for it in tr + va + te}
    test_cls = sorted(cls_of_group[g] for g in _groups(te))
    assert test_cls.count("benign") == 6 and test_cls.count("malignant") == 4 and test_cls.count("normal") == 2
    val_cls = [cls_of_group[g] for g in _groups(va)]
    assert val_cls.count("benign") == 3 and val_cls.count("malignant") == 2 and val_cls.count("normal") == 1
    lab_cls = [cls_of_group[g] for g in _groups(lab)]
    assert abs(lab_cls.count("benign") - 11 * 0.5) <= 1 and abs(lab_cls.count("malignant") - 11 / 3) <= 1
    # stored parameters and counts
    assert split["split_seed"] == 0 and split["labeled_seed"] == 0 and split["labeled_fraction"] == 0.25
    assert split["fractions"] == {"val": 0.1, "test": 0.2}
    assert split["name"] == "tiny" and split["labels"] == {"lesion": [255]}
    assert split["input_sha256"] == list_dataset(patients, check=False).input_sha256()
    assert split["counts"]["training"]["images"] == len(tr)
    assert split["counts"]["training"]["labeled_images"] == len(lab)
    assert split["counts"]["training"]["labeled_groups"] == 11
    assert sum(split["counts"]["test"]["classes"].values()) == len(te)
    assert split["counts"]["total"]["classes"] == {"benign": 60, "malignant": 39, "normal": 21}
    assert "group-level" in split["rules"] and "stratified by class" in split["rules"]
    # the class is not an item key (load_decathlon_datalist would turn "benign" into a path)
    assert all("class" not in it for it in tr + va + te)


def test_nested_labelled_sets_and_fixed_partition(patients, tmp_path):
    splits = {
        f: load_split(make_split_file(patients, out=tmp_path / f"{f}.json", labeled=f, seed=1))
        for f in (0.125, 0.25, 0.5, 1.0)
    }
    parts = {f: (_groups(s["training"]), _groups(s["validation"]), _groups(s["test"])) for f, s in splits.items()}
    assert len({tuple(map(frozenset, p)) for p in parts.values()}) == 1  # partition independent of the fraction
    lab = {f: _groups(it for it in s["training"] if it["labeled"]) for f, s in splits.items()}
    n_train = len(parts[1.0][0])
    assert [len(lab[f]) for f in (0.125, 0.25, 0.5, 1.0)] == [math.ceil(f * n_train) for f in (0.125, 0.25, 0.5, 1.0)]
    assert lab[0.125] < lab[0.25] < lab[0.5] < lab[1.0] == parts[1.0][0]
    assert all(it["labeled"] for it in splits[1.0]["training"])


def test_determinism_and_seed(patients, tmp_path):
    a = make_split_file(patients, out=tmp_path / "a.json", seed=3)
    b = make_split_file(patients, out=tmp_path / "b.json", seed=3)
    assert json.loads(a.read_text())["training"] == json.loads(b.read_text())["training"]
    assert a.read_text().replace(str(tmp_path), "") == b.read_text().replace(str(tmp_path), "")
    c = load_split(make_split_file(patients, out=tmp_path / "c.json", seed=4))
    assert _groups(c["test"]) != _groups(load_split(a)["test"])
    # the labelled seed can differ from the split seed: same partition, other labelled groups
    d = load_split(make_split_file(patients, out=tmp_path / "d.json", seed=3, labeled_seed=7, labeled=0.5))
    e = load_split(make_split_file(patients, out=tmp_path / "e.json", seed=3, labeled=0.5))
    assert _groups(d["test"]) == _groups(e["test"])
    assert _groups(i for i in d["training"] if i["labeled"]) != _groups(i for i in e["training"] if i["labeled"])


def test_reuse_without_redraw_and_mismatch(patients, tmp_path):
    out = tmp_path / "r.json"
    make_split_file(patients, out=out, seed=0)
    before = out.read_bytes()
    out.write_bytes(before.replace(b'"rules"', b'"note": "kept", "rules"', 1))  # a marker: reuse returns it as is
    marked = out.read_bytes()
    assert make_split_file(patients, out=out, seed=0) == out
    assert out.read_bytes() == marked
    with pytest.raises(USSplitError, match=r"r\.json exists with different parameters.*split_seed"):
        make_split_file(patients, out=out, seed=1)
    with pytest.raises(USSplitError, match="labeled_fraction"):
        make_split_file(patients, out=out, seed=0, labeled=0.5)
    with pytest.raises(USSplitError, match="group_rule"):
        make_split_file(patients, out=out, seed=0, group_by=r"^(p\d+)_0")
    assert out.read_bytes() == marked


def test_input_change_detected(tmp_path):
    root = tmp_path / "ds"
    for i in range(8):
        _png(root / "images" / f"a{i}.png", np.zeros((8, 8)))
        _png(root / "masks" / f"a{i}.png", np.zeros((8, 8)))
    out = make_split_file(root, seed=0)
    assert out == default_split_path(root, 0, 0.1, 0.2, 0.125)
    assert out.name == "split_s0_v0.1_t0.2_l0.125.json" and out.parent == root / "splits"
    split = load_split(out)
    # 8 groups: round(1.6) = 2 test, max(1, round(0.8)) = 1 val, 5 training, ceil(0.625) = 1 labelled
    assert [len(split[p]) for p in ("training", "validation", "test")] == [5, 1, 2]
    assert sum(it["labeled"] for it in split["training"]) == 1
    assert "no classes" in split["rules"] and "classes" not in split
    _png(root / "images" / "a9.png", np.zeros((8, 8)))
    _png(root / "masks" / "a9.png", np.zeros((8, 8)))
    with pytest.raises(USSplitError, match="input_sha256"):
        make_split_file(root, seed=0)


def test_argument_and_dataset_errors(patients, tmp_path):
    with pytest.raises(ValueError, match="val must satisfy"):
        make_split_file(patients, out=tmp_path / "x.json", val=0)
    with pytest.raises(ValueError, match="val \\+ test must be < 1"):
        make_split_file(patients, out=tmp_path / "x.json", val=0.5, test=0.5)
    with pytest.raises(ValueError, match="labeled must satisfy"):
        make_split_file(patients, out=tmp_path / "x.json", labeled=0)
    with pytest.raises(ValueError, match="seed"):
        make_split_file(patients, out=tmp_path / "x.json", seed=-1)
    assert not (tmp_path / "x.json").exists()
    pool = tmp_path / "pool"
    _png(pool / "u0.png", np.zeros((8, 8)))
    with pytest.raises(USSplitError, match="without masks"):
        make_split_file(pool)
    few = tmp_path / "few"
    for i in range(2):
        _png(few / "images" / f"a{i}.png", np.zeros((8, 8)))
        _png(few / "masks" / f"a{i}.png", np.zeros((8, 8)))
    with pytest.raises(USSplitError, match="too few"):
        make_split_file(few)
    # test = 0 is allowed
    s = load_split(make_split_file(patients, out=tmp_path / "t0.json", test=0.0))
    assert s["test"] == [] and len(_groups(s["validation"])) == 6


def test_busi_multi_mask_items(tmp_path):
    root = tmp_path / "busi"
    for c, n in (("benign", 6), ("malignant", 4), ("normal", 2)):
        for i in range(n):
            _png(root / c / f"{c} ({i}).png", np.zeros((8, 8)))
            _png(root / c / f"{c} ({i})_mask.png", np.zeros((8, 8)))
    _png(root / "benign" / "benign (0)_mask_1.png", np.zeros((8, 8)))
    split = load_split(make_split_file(root, labeled=1.0, val=0.2, test=0.2))
    items = {it["image"]: it for p in ("training", "validation", "test") for it in split[p]}
    assert items["benign/benign (0).png"]["label"] == ["benign/benign (0)_mask.png", "benign/benign (0)_mask_1.png"]
    assert split["classes"]["malignant/malignant (0).png"] == "malignant"
    # monai reads the datalist with the multi-mask list made absolute
    from monai.data import load_decathlon_datalist

    for part in ("training", "validation", "test"):
        dl = load_decathlon_datalist(root / "splits" / "split_s0_v0.2_t0.2_l1.json", True, part, base_dir=root)
        assert len(dl) == len(split[part])
        for it in dl:
            labels = it["label"] if isinstance(it["label"], list) else [it["label"]]
            assert Path(it["image"]).is_file() and all(Path(x).is_file() for x in labels)


def test_split_datalist(patients, tmp_path):
    out = make_split_file(patients, out=tmp_path / "s.json", labeled=0.25)
    split = load_split(out)
    lab = split_datalist(out, "train", labeled=True)
    unl = split_datalist(split, "training", labeled=False)
    assert len(lab) + len(unl) == len(split["training"])
    assert all(Path(it["image"]).is_absolute() and Path(it["label"]).is_file() for it in lab)
    assert all("label" not in it and Path(it["image"]).is_file() for it in unl)
    val = split_datalist(split, "val")
    assert len(val) == len(split["validation"]) and split_datalist(split, "val", labeled=False) == []
    assert split["validation"][0]["image"].startswith("images/")  # the input dict is not modified
    other = split_datalist(split, "test", base_dir="/elsewhere")
    assert other[0]["image"].startswith("/elsewhere/images/")
    with pytest.raises(ValueError, match="part must be one of"):
        split_datalist(split, "holdout")
    with pytest.raises(USSplitError, match="pass base_dir"):
        split_datalist({**split, "dataset_dir": str(tmp_path / "gone")}, "test")


def test_load_split_validation(patients, tmp_path):
    good = json.loads(make_split_file(patients, out=tmp_path / "g.json").read_text())
    bad = tmp_path / "bad.json"

    def check(split, pattern):
        bad.write_text(json.dumps(split))
        with pytest.raises(USSplitError, match=pattern):
            load_split(bad)

    check({k: v for k, v in good.items() if k != "test"}, r"bad\.json lacks the key\(s\) \['test'\]")
    lab = next(i for i, it in enumerate(good["training"]) if it["labeled"])
    unl = next(i for i, it in enumerate(good["training"]) if not it["labeled"])
    t = json.loads(json.dumps(good))
    del t["training"][lab]["label"]
    check(t, r"training\[\d+\] .* is labeled but has no 'label'")
    t = json.loads(json.dumps(good))
    t["training"][unl]["label"] = "masks/x.png"
    check(t, "is unlabeled but carries a 'label' key")
    t = json.loads(json.dumps(good))
    t["test"].append(t["validation"][0])
    check(t, "is in both validation and test")
    bad.write_text("[1, 2")
    with pytest.raises(USSplitError, match=r"cannot read split file .*bad\.json"):
        load_split(bad)
    with pytest.raises(FileNotFoundError):
        load_split(tmp_path / "missing.json")


# ---------------------------------------------------------------- legacy txt import


def _legacy_lists(root: Path, tmp_path: Path) -> tuple[Path, Path, list[str], list[str]]:
    ids = sorted(p.stem for p in (root / "images").glob("*.png"))
    rng = np.random.default_rng(41)
    perm = [ids[i] for i in rng.permutation(len(ids))]
    train, val = perm[:84], perm[84:]
    tr, va = tmp_path / "busi_train1.txt", tmp_path / "busi_val1.txt"
    # tolerate an extension on some lines, blank lines and a trailing newline
    tr.write_text("\n".join(f"{i}.png" if k % 5 == 0 else i for k, i in enumerate(train)) + "\n\n")
    va.write_text("\n" + "\n".join(val) + "\n")
    return tr, va, train, val


def test_import_txt_split(patients, tmp_path):
    tr, va, train, val = _legacy_lists(patients, tmp_path)
    assert read_id_list(tr) == train
    out = import_txt_split(patients, tr, va, labeled=0.5, seed=0)
    assert out == patients / "splits" / "imported_busi_train1_l0.5_s0.json"
    split = load_split(out)
    assert [Path(it["image"]).stem for it in split["training"]] == train
    assert [Path(it["image"]).stem for it in split["validation"]] == val
    assert split["test"] == []
    assert "imported legacy split: selection on reported set" in split["rules"]
    lab = _groups(it for it in split["training"] if it["labeled"])
    assert len(lab) == math.ceil(0.5 * len(_groups(split["training"])))
    # nested across fractions with the same seed
    quarter = load_split(import_txt_split(patients, tr, va, labeled=0.25, seed=0))
    assert _groups(it for it in quarter["training"] if it["labeled"]) < lab
    # reuse: same file back, unchanged
    stamp = out.stat().st_mtime_ns
    assert import_txt_split(patients, tr, va, labeled=0.5, seed=0) == out and out.stat().st_mtime_ns == stamp
    # a changed id list is a mismatch, not a re-draw
    tr.write_text("\n".join(train[1:]))
    va.write_text("\n".join(val + train[:1]))
    with pytest.raises(USSplitError, match="legacy"):
        import_txt_split(patients, tr, va, labeled=0.5, seed=0)


def test_import_legacy_order(patients, tmp_path):
    tr, va, train, _ = _legacy_lists(patients, tmp_path)
    split = load_split(import_txt_split(patients, tr, va, labeled=0.3, legacy_order=True))
    labelled = [Path(it["image"]).stem for it in split["training"] if it["labeled"]]
    assert labelled == train[: int(0.3 * 84)] and len(labelled) == 25
    assert "file order" in split["rules"] and split["legacy"]["legacy_order"] is True


def test_import_errors(patients, tmp_path):
    tr, va, train, val = _legacy_lists(patients, tmp_path)
    unknown = tmp_path / "x_train1.txt"
    unknown.write_text("\n".join(train[:3] + ["benign (999)"]))
    with pytest.raises(USSplitError, match=r"id 'benign \(999\)' from .*x_train1\.txt is not an image"):
        import_txt_split(patients, unknown, va)
    overlap = tmp_path / "o_val1.txt"
    overlap.write_text("\n".join(val + train[:1]))
    with pytest.raises(USSplitError, match="is in both"):
        import_txt_split(patients, tr, overlap)
    dup = tmp_path / "d_train1.txt"
    dup.write_text("\n".join(train[:2] + train[:1]))
    with pytest.raises(USSplitError, match=r"listed twice in .*d_train1\.txt \(lines 1 and 3\)"):
        import_txt_split(patients, dup, va)
    with pytest.raises(USSplitError, match="import-val"):
        import_txt_split(patients, tr, None)
    with pytest.raises(FileNotFoundError, match="nope"):
        import_txt_split(patients, tmp_path / "nope.txt", va)


def test_cli_split(patients, tmp_path, capsys):
    from monai_ext.cli import main

    out = tmp_path / "cli.json"
    assert main(["split", str(patients), "--out", str(out), "--labeled", "0.5", "--seed", "2"]) == 0
    assert load_split(out)["labeled_fraction"] == 0.5
    assert main(["split", str(patients), "--out", str(out), "--labeled", "0.25", "--seed", "2"]) == 2
    assert "different parameters" in capsys.readouterr().err


def test_build_split_pure(patients):
    listing = list_dataset(patients, check=False)
    a = build_split(listing, seed=5)
    b = build_split(listing, seed=5)
    assert a == b and a["kind"] == "random"


def test_reused_split_rechecks_its_files_and_ignores_structure_names(tmp_path):
    root = tmp_path / "ds"
    for i in range(8):
        _png(root / "images" / f"a{i}.png", np.zeros((8, 8)))
        _png(root / "masks" / f"a{i}.png", np.zeros((8, 8)))
    out = make_split_file(root, seed=0)  # no dataset.json: the binary table {"foreground": [255]}
    # the bundle passes its own table, named after its task: same gray values, so the same split
    assert make_split_file(root, seed=0, labels={"lesion": [255]}) == out
    with pytest.raises(USSplitError, match="labels"):
        make_split_file(root, seed=0, labels={"lv": [1], "la": [3]})
    # a file corrupted after the split was made is reported by name when the split is reused
    mask = root / "masks" / "a3.png"
    mask.write_bytes(mask.read_bytes()[:30])
    with pytest.raises(USDatasetError, match=r"unreadable mask .*masks/a3\.png"):
        make_split_file(root, seed=0)
