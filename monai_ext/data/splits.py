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

"""Frozen train / validation / test split files with nested labelled subsets (docs/methods/evaluation.md, "Split
protocol" and "Split files").

A split file is a MONAI decathlon-style JSON datalist (paths relative to the dataset root) with ``training``
(every item carries ``"labeled"``; unlabelled items have no ``"label"`` key), ``validation`` and ``test``, plus
the parameters that made it (seeds, fractions, group rule, label table, counts, SHA-256 of the input file list).

Rules of :func:`make_split_file`:

- groups (patients) are sorted, then ordered by one stratified permutation drawn with
  ``numpy.random.default_rng(split_seed)``: each class is permuted, and the classes are interleaved by relative
  position so that every prefix of the order holds the classes in proportion;
- test = the first ``round(test * G)`` groups, validation = the next ``round(val * G)`` (at least one each when
  the fraction is > 0), training = the rest; so the partition depends only on the dataset, ``val``, ``test``,
  the split seed and the group rule, never on the labelled fraction;
- labelled = the first ``ceil(f * G_train)`` (at least one) training groups of a second stratified permutation
  drawn with ``numpy.random.default_rng([labeled_seed, 1])``: for one seed the 1/8 set is inside the 1/4 set,
  which is inside the 1/2 set.

An existing split file is reused, never re-drawn: its parameters and input hash are checked and the file is
returned unchanged, or a :class:`USSplitError` explains the mismatch (the file is never overwritten).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from monai_ext.data.layouts import IMAGE_EXTENSIONS, DatasetListing, list_dataset
from monai_ext.utils.errors import USInputError
from monai_ext.utils.json_files import read_json_object

__all__ = [
    "SPLIT_PARTS",
    "SPLIT_FORMAT_VERSION",
    "USSplitError",
    "default_split_path",
    "build_split",
    "make_split_file",
    "read_id_list",
    "import_txt_split",
    "load_split",
    "split_datalist",
    "split_file_sha256",
]

SPLIT_PARTS = ("training", "validation", "test")
SPLIT_FORMAT_VERSION = 1
_PART_ALIASES = {"train": "training", "val": "validation", "valid": "validation", "testing": "test"}
_LABELED_STREAM = 1  # second seed word: the labelled permutation never shares a stream with the partition


class USSplitError(USInputError):
    """A split cannot be made, reused or read; the message names the file and the problem."""


def _fmt(x: float) -> str:
    return f"{x:g}"


def default_split_path(dataset: str | Path, seed: int, val: float, test: float, labeled: float) -> Path:
    """``DATASET/splits/split_s{seed}_v{val}_t{test}_l{labeled}.json`` (e.g. ``split_s0_v0.1_t0.2_l0.125.json``)."""
    return Path(dataset) / "splits" / f"split_s{seed}_v{_fmt(val)}_t{_fmt(test)}_l{_fmt(labeled)}.json"


def _check_fraction(name: str, value: float, low_open: bool, high: float = 1.0, high_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    lo_ok = value > 0 if low_open else value >= 0
    hi_ok = value < high if high_open else value <= high
    if not (lo_ok and hi_ok):
        lo = "0 <" if low_open else "0 <="
        hi = "<" if high_open else "<="
        raise ValueError(f"{name} must satisfy {lo} {name} {hi} {high}, got {value!r}")
    return float(value)


def _check_seed(name: str, seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {seed!r}")
    return int(seed)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5 + 1e-9))


def _group_strata(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Group -> stratum: the most common class of its images ("" without classes; ties -> sorted first)."""
    per_group: dict[str, Counter] = {}
    for it in items:
        per_group.setdefault(it["group"], Counter())[str(it.get("class") or "")] += 1
    return {g: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for g, c in per_group.items()}


def _stratified_order(groups: Iterable[str], strata: Mapping[str, str], rng: np.random.Generator) -> list[str]:
    """One seeded permutation of the sorted groups in which every prefix holds the strata in proportion."""
    by_stratum: dict[str, list[str]] = {}
    for g in sorted(set(groups)):
        by_stratum.setdefault(strata[g], []).append(g)
    keyed: list[tuple[Fraction, int, str]] = []
    for si, name in enumerate(sorted(by_stratum)):
        members = by_stratum[name]
        perm = rng.permutation(len(members))
        for pos, j in enumerate(perm):
            # exact mid-point rank: no float ties, deterministic interleaving across strata
            keyed.append((Fraction(2 * pos + 1, 2 * len(members)), si, members[int(j)]))
    keyed.sort()
    return [g for _, _, g in keyed]


def _labeled_groups(train_groups: Iterable[str], strata: Mapping[str, str], fraction: float, seed: int) -> set[str]:
    groups = sorted(set(train_groups))
    order = _stratified_order(groups, strata, np.random.default_rng([seed, _LABELED_STREAM]))
    k = max(1, math.ceil(fraction * len(order) - 1e-9))
    return set(order[:k])


def _split_item(it: Mapping[str, Any], labeled: bool | None) -> dict[str, Any]:
    out: dict[str, Any] = {"image": it["image"]}
    if labeled is not False and "label" in it:
        out["label"] = copy.deepcopy(it["label"])
    out["group"] = it["group"]
    if labeled is not None:
        out["labeled"] = bool(labeled)
    return out


def _class_counts(items: Sequence[Mapping[str, Any]], classes: Mapping[str, str]) -> dict[str, int]:
    if not classes:
        return {}
    c = Counter(classes.get(it["image"], "") for it in items)
    return dict(sorted(c.items()))


def _counts(parts: Mapping[str, list[dict[str, Any]]], classes: Mapping[str, str]) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    everything = [it for p in SPLIT_PARTS for it in parts[p]]
    counts["total"] = {
        "images": len(everything),
        "groups": len({it["group"] for it in everything}),
        "classes": _class_counts(everything, classes),
    }
    for p in SPLIT_PARTS:
        items = parts[p]
        c: dict[str, Any] = {"images": len(items), "groups": len({it["group"] for it in items})}
        if p == "training":
            lab = [it for it in items if it["labeled"]]
            c.update(
                labeled_images=len(lab),
                labeled_groups=len({it["group"] for it in lab}),
                unlabeled_images=len(items) - len(lab),
                labeled_classes=_class_counts(lab, classes),
            )
        c["classes"] = _class_counts(items, classes)
        counts[p] = c
    return counts


def _check_labeled_listing(listing: DatasetListing) -> None:
    if not listing.items:
        raise USSplitError(f"no images in {listing.root}")
    missing = [it["image"] for it in listing.items if "label" not in it]
    if missing:
        raise USSplitError(
            f"dataset {listing.root} has {len(missing)} image(s) without masks (e.g. {missing[0]}); validation and "
            "test need labels - list an unlabelled pool separately"
        )


def build_split(
    listing: DatasetListing,
    val: float = 0.1,
    test: float = 0.2,
    labeled: float = 0.125,
    seed: int = 0,
    labeled_seed: int | None = None,
) -> dict[str, Any]:
    """Build (without writing) the split dict of a dataset listing; see the module docstring for the rules.

    Raises:
        ValueError: for fractions out of range (``0 < val``, ``0 <= test``, ``val + test < 1``,
            ``0 < labeled <= 1``) or negative seeds.
        USSplitError: when the dataset has unlabelled images or too few groups for the three parts.
    """
    val = _check_fraction("val", val, low_open=True)
    test = _check_fraction("test", test, low_open=False)
    labeled = _check_fraction("labeled", labeled, low_open=True, high_open=False)
    if val + test >= 1:
        raise ValueError(f"val + test must be < 1, got {val} + {test}")
    seed = _check_seed("seed", seed)
    labeled_seed = seed if labeled_seed is None else _check_seed("labeled_seed", labeled_seed)
    _check_labeled_listing(listing)

    strata = _group_strata(listing.items)
    order = _stratified_order(strata, strata, np.random.default_rng(seed))
    n = len(order)
    n_test = max(1, _round_half_up(test * n)) if test > 0 else 0
    n_val = max(1, _round_half_up(val * n))
    if n_test + n_val >= n:
        raise USSplitError(
            f"{listing.root}: {n} group(s) are too few for val={val}, test={test} ({n_val} validation + {n_test} "
            "test group(s) leave no training group)"
        )
    val_groups = set(order[n_test : n_test + n_val])
    train_groups = set(order[n_test + n_val :])
    lab_groups = _labeled_groups(train_groups, strata, labeled, labeled_seed)

    parts: dict[str, list[dict[str, Any]]] = {p: [] for p in SPLIT_PARTS}
    for it in listing.items:  # sorted by id
        g = it["group"]
        if g in train_groups:
            parts["training"].append(_split_item(it, g in lab_groups))
        elif g in val_groups:
            parts["validation"].append(_split_item(it, None))
        else:
            parts["test"].append(_split_item(it, None))
    classes = {it["image"]: it["class"] for it in listing.items if it.get("class") is not None}
    group_rule = listing.group_rule or "image id"
    stratified = "stratified by class" if classes else "no classes"
    rules = (
        f"docs/methods/evaluation.md, 'Split protocol': ids sorted; group-level ({group_rule}); {stratified}; test, "
        f"validation and training are consecutive slices of one stratified permutation (numpy default_rng({seed})); "
        f"labelled = first ceil(f * n_train_groups) (>= 1) training groups of a stratified permutation (numpy "
        f"default_rng([{labeled_seed}, {_LABELED_STREAM}])), nested across fractions"
    )
    split: dict[str, Any] = {
        "name": listing.name,
        "dataset_dir": str(listing.root),
        "format_version": SPLIT_FORMAT_VERSION,
        "kind": "random",
        "layout": listing.layout,
        "labels": listing.labels,
        "rules": rules,
        "split_seed": seed,
        "labeled_seed": labeled_seed,
        "labeled_fraction": labeled,
        "fractions": {"val": val, "test": test},
        "group_rule": listing.group_rule,
        "input_sha256": listing.input_sha256(),
        "counts": _counts(parts, classes),
    }
    if classes:
        # Per-image classes live here, not in the items: load_decathlon_datalist would turn a class named like a
        # folder of the dataset root (BUSI "benign/") into an absolute path.
        split["classes"] = dict(sorted(classes.items()))
    split.update(parts)
    return split


_COMPARED_KEYS = (
    "kind",
    "split_seed",
    "labeled_seed",
    "labeled_fraction",
    "fractions",
    "group_rule",
    "labels",
    "input_sha256",
    "legacy",
)


def _reuse_or_raise(out: Path, expected: Mapping[str, Any]) -> Path:
    """Return ``out`` unchanged when its parameters match ``expected``; else raise (never overwrite)."""
    stored = load_split(out)
    diffs = []
    for key in _COMPARED_KEYS:
        if key in expected or key in stored:
            a, b = stored.get(key), expected.get(key)
            if key == "labels" and isinstance(a, Mapping) and isinstance(b, Mapping):
                # the gray values decide which masks are valid; structure names ("foreground" / "lesion") do not
                a, b = list(a.values()), list(b.values())
            if json.loads(json.dumps(a)) != json.loads(json.dumps(b)):
                diffs.append(f"{key}: file has {a!r}, requested {b!r}")
    if diffs:
        raise USSplitError(
            f"split file {out} exists with different parameters ({'; '.join(diffs)}); split files are never "
            "re-drawn: choose another --out or delete the file deliberately"
        )
    return out


def _write_json(out: Path, data: Mapping[str, Any]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def make_split_file(
    dataset: str | Path,
    out: str | Path | None = None,
    val: float = 0.1,
    test: float = 0.2,
    labeled: float = 0.125,
    seed: int = 0,
    group_by: str | None = None,
    layout: str = "auto",
    labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int] | None = None,
    labeled_seed: int | None = None,
    label_hint: str | None = None,
) -> Path:
    """Write (or reuse) the split file of a dataset folder.

    A new split reads every image and mask once (:func:`~monai_ext.data.list_dataset`); reusing an existing file
    re-runs the cheap checks (files exist, headers readable, mask sizes; :func:`~monai_ext.data.check_listed_files`),
    so a file deleted or corrupted since is reported now, by name.

    Args:
        dataset: dataset folder (any layout of :mod:`monai_ext.data.layouts`).
        out: split file; default :func:`default_split_path`.
        val: validation fraction of groups (> 0).
        test: test fraction of groups (>= 0).
        labeled: labelled fraction of the training groups (0 < labeled <= 1; 1.0 = supervised upper bound).
        seed: split seed (also the labelled-subset seed unless ``labeled_seed`` is given).
        group_by: patient-id regex on the image id (default ``dataset.json`` "group_regex", else per image).
        layout: dataset layout name or ``"auto"``.
        labels: label table override.
        labeled_seed: seed of the labelled subset (default ``seed``).
        label_hint: how to fix masks with gray values outside the table, for the message (a bundle names its
            own options).

    Returns:
        the path of the split file.

    Raises:
        USSplitError: when an existing file does not match, or the dataset cannot be split.
        ValueError / FileNotFoundError: for bad arguments or a bad dataset folder (``USDatasetError``).
    """
    root = Path(dataset)
    out_path = Path(out) if out is not None else default_split_path(root, int(seed), val, test, labeled)
    listing = list_dataset(
        root, layout=layout, labels=labels, group_by=group_by, check=not out_path.exists(), label_hint=label_hint
    )
    split = build_split(listing, val=val, test=test, labeled=labeled, seed=seed, labeled_seed=labeled_seed)
    if out_path.exists():
        return _reuse_or_raise(out_path, split)
    return _write_json(out_path, split)


def read_id_list(path: str | Path) -> list[str]:
    """Image ids of a legacy split file (``<name>_train1.txt``): one id per line.

    Blank lines and ``#`` comments are skipped; a folder prefix and an image extension are tolerated
    (``images/benign (10).png`` -> ``benign (10)``).

    Raises:
        FileNotFoundError: when the file does not exist.
        USSplitError: for an empty list or a repeated id (naming the file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"id list not found: {p}")
    ids: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        s = s.replace("\\", "/").rsplit("/", 1)[-1]
        root, ext = os.path.splitext(s)
        if ext.lower() in IMAGE_EXTENSIONS:
            s = root
        if s in seen:
            raise USSplitError(f"id {s!r} is listed twice in {p} (lines {seen[s]} and {lineno})")
        seen[s] = lineno
        ids.append(s)
    if not ids:
        raise USSplitError(f"no ids in {p}")
    return ids


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_txt_split(
    dataset: str | Path,
    train_txt: str | Path,
    val_txt: str | Path | None,
    out: str | Path | None = None,
    labeled: float = 0.125,
    seed: int = 0,
    layout: str = "auto",
    legacy_order: bool = False,
    labels: Mapping[str, Sequence[int] | int] | Sequence[Sequence[int] | int] | None = None,
    group_by: str | None = None,
) -> Path:
    """Import a legacy split (``<name>_train1.txt`` / ``<name>_val1.txt`` id lists) as a split file.

    training = the train ids (file order), validation = the val ids, test = [] (the legacy protocols select and
    report on the same set: the file's "rules" say so).

    Args:
        dataset: dataset folder.
        train_txt: training id list.
        val_txt: validation id list (required).
        out: split file; default ``DATASET/splits/imported_<train stem>_l{labeled}_s{seed}[_legacy].json``.
        labeled: labelled fraction of the training pool.
        seed: labelled-subset seed (group-level, stratified, nested as in :func:`make_split_file`).
        layout: dataset layout name or ``"auto"``.
        legacy_order: MGCC's rule instead: labelled = the first ``int(labeled * N)`` train ids in file order.
        labels: label table override.
        group_by: patient-id regex (groups are informational here; legacy lists are image-level).

    Raises:
        USSplitError: for unknown ids (naming the id and file), ids in both lists, or a mismatching existing file.
    """
    if val_txt is None:
        raise USSplitError("importing a legacy split needs both the train and the val id list (--import-val)")
    labeled = _check_fraction("labeled", labeled, low_open=True, high_open=False)
    seed = _check_seed("seed", seed)
    train_p, val_p = Path(train_txt), Path(val_txt)
    train_ids, val_ids = read_id_list(train_p), read_id_list(val_p)
    both = sorted(set(train_ids) & set(val_ids))
    if both:
        raise USSplitError(f"id {both[0]!r} is in both {train_p} and {val_p} ({len(both)} shared id(s))")

    root = Path(dataset)
    stem = train_p.stem
    out_path = (
        Path(out)
        if out is not None
        else root / "splits" / f"imported_{stem}_l{_fmt(labeled)}_s{seed}{'_legacy' if legacy_order else ''}.json"
    )
    listing = list_dataset(root, layout=layout, labels=labels, group_by=group_by, check=not out_path.exists())
    _check_labeled_listing(listing)
    by_id = {it["id"]: it for it in listing.items}
    for ids, p in ((train_ids, train_p), (val_ids, val_p)):
        for i in ids:
            if i not in by_id:
                raise USSplitError(f"id {i!r} from {p} is not an image of {listing.root}")

    train_items = [by_id[i] for i in train_ids]
    if legacy_order:
        k = int(labeled * len(train_items) + 1e-9)
        if k < 1:
            raise USSplitError(f"int({labeled} * {len(train_items)}) = 0 labelled images: raise the fraction")
        lab_ids = set(train_ids[:k])
        selection = f"labelled = first int({labeled} * N) = {k} train ids in file order (MGCC legacy)"
    else:
        strata = _group_strata(train_items)
        lab_groups = _labeled_groups(strata, strata, labeled, seed)
        lab_ids = {it["id"] for it in train_items if it["group"] in lab_groups}
        selection = (
            f"labelled = first ceil(f * n_train_groups) training groups of a stratified permutation (numpy "
            f"default_rng([{seed}, {_LABELED_STREAM}])), nested across fractions"
        )
    parts: dict[str, list[dict[str, Any]]] = {
        "training": [_split_item(it, it["id"] in lab_ids) for it in train_items],
        "validation": [_split_item(by_id[i], None) for i in val_ids],
        "test": [],
    }
    used = set(train_ids) | set(val_ids)
    classes = {it["image"]: it["class"] for it in listing.items if it["id"] in used and it.get("class") is not None}
    straddling = len({it["group"] for it in parts["training"]} & {it["group"] for it in parts["validation"]})
    split: dict[str, Any] = {
        "name": listing.name,
        "dataset_dir": str(listing.root),
        "format_version": SPLIT_FORMAT_VERSION,
        "kind": "imported",
        "layout": listing.layout,
        "labels": listing.labels,
        "rules": (
            f"imported legacy split: selection on reported set (validation = {val_p.name}, no test set); "
            f"image-level lists ({straddling} group(s) in both training and validation); {selection}"
        ),
        "split_seed": None,
        "labeled_seed": seed,
        "labeled_fraction": labeled,
        "fractions": {"val": len(val_ids) / (len(val_ids) + len(train_ids)), "test": 0.0},
        "group_rule": listing.group_rule,
        "input_sha256": listing.input_sha256(),
        "legacy": {
            "train_txt": train_p.name,
            "val_txt": val_p.name,
            "train_sha256": _sha256_file(train_p),
            "val_sha256": _sha256_file(val_p),
            "legacy_order": bool(legacy_order),
        },
        "counts": _counts(parts, classes),
    }
    split["counts"]["unused_images"] = len(listing.items) - len(used)
    split["counts"]["groups_in_training_and_validation"] = straddling
    if classes:
        split["classes"] = dict(sorted(classes.items()))
    split.update(parts)
    if out_path.exists():
        return _reuse_or_raise(out_path, split)
    return _write_json(out_path, split)


def _check_item(item: Any, part: str, index: int, path: str) -> None:
    where = f"{path}: {part}[{index}]"
    if not isinstance(item, dict):
        raise USSplitError(f"{where} must be an object, got {type(item).__name__}")
    if not isinstance(item.get("image"), str) or not item["image"]:
        raise USSplitError(f"{where} has no 'image' path")
    lab = item.get("label")
    if lab is not None and not (
        isinstance(lab, str) or (isinstance(lab, list) and lab and all(isinstance(x, str) for x in lab))
    ):
        raise USSplitError(f"{where} ({item['image']}): 'label' must be a path or a list of paths")
    if part == "training":
        if not isinstance(item.get("labeled"), bool):
            raise USSplitError(f"{where} ({item['image']}) has no boolean 'labeled'")
        if item["labeled"] and lab is None:
            raise USSplitError(f"{where} ({item['image']}) is labeled but has no 'label'")
        if not item["labeled"] and "label" in item:
            raise USSplitError(f"{where} ({item['image']}) is unlabeled but carries a 'label' key")
    elif lab is None:
        raise USSplitError(f"{where} ({item['image']}) has no 'label'")


def load_split(path: str | Path) -> dict[str, Any]:
    """Read and validate a split file.

    Checks: a JSON object with the lists ``training``, ``validation``, ``test`` and a ``labels`` table; every
    item has an ``image``; training items have a boolean ``labeled``, labelled ones a ``label``, unlabelled ones
    none; validation and test items have a ``label``; no image is in two parts.

    Raises:
        FileNotFoundError: when the file does not exist.
        USSplitError: naming the file and the problem.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"split file not found: {p}")
    split = read_json_object(p, USSplitError, "split file")
    missing = [k for k in (*SPLIT_PARTS, "labels") if k not in split]
    if missing:
        raise USSplitError(f"split file {p} lacks the key(s) {missing}")
    if not isinstance(split["labels"], dict) or not split["labels"]:
        raise USSplitError(f"split file {p}: 'labels' must be a non-empty object structure -> gray values")
    seen: dict[str, str] = {}
    for part in SPLIT_PARTS:
        if not isinstance(split[part], list):
            raise USSplitError(f"split file {p}: {part!r} must be a list")
        for i, it in enumerate(split[part]):
            _check_item(it, part, i, str(p))
            if it["image"] in seen:
                raise USSplitError(f"split file {p}: {it['image']} is in both {seen[it['image']]} and {part}")
            seen[it["image"]] = part
    if not split["training"]:
        raise USSplitError(f"split file {p}: 'training' is empty")
    return split


def split_file_sha256(path: str | Path) -> str:
    """SHA-256 of a split file's bytes (bundles log it with their results)."""
    return _sha256_file(Path(path))


def split_datalist(
    split: Mapping[str, Any] | str | Path,
    part: str,
    labeled: bool | None = None,
    base_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Items of one part of a split with absolute paths, ready for MONAI datasets.

    Args:
        split: a split dict or the path of a split file (validated with :func:`load_split`).
        part: ``"training"``, ``"validation"`` or ``"test"`` (also ``"train"``, ``"val"``).
        labeled: ``True``: labelled items only; ``False``: unlabelled items only (training; validation and test
            items are all labelled); ``None``: all.
        base_dir: dataset root; default the split's ``dataset_dir``.

    Returns:
        copies of the items with ``image`` and ``label`` (a path or a list of paths) made absolute.

    Raises:
        ValueError: for an unknown part.
        USSplitError: when no existing dataset root is known.
    """
    if not isinstance(split, Mapping):
        split = load_split(split)
    key = _PART_ALIASES.get(part, part)
    if key not in SPLIT_PARTS:
        raise ValueError(f"part must be one of {SPLIT_PARTS} (or train/val), got {part!r}")
    root = Path(base_dir) if base_dir is not None else Path(str(split.get("dataset_dir") or ""))
    if base_dir is None and (not split.get("dataset_dir") or not root.is_dir()):
        raise USSplitError(
            f"dataset folder {split.get('dataset_dir')!r} of the split does not exist here: pass base_dir="
        )

    def absolute(rel: str) -> str:
        return os.path.normpath(os.path.join(root, rel))

    out = []
    for it in split[key]:
        is_lab = bool(it.get("labeled", True))
        if labeled is not None and is_lab != labeled:
            continue
        item = copy.deepcopy(dict(it))
        item["image"] = absolute(item["image"])
        if "label" in item:
            lab = item["label"]
            item["label"] = absolute(lab) if isinstance(lab, str) else [absolute(x) for x in lab]
        out.append(item)
    return out
