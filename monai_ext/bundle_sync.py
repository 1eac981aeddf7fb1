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
"""Bundle configs from one base: ``python -m monai_ext sync-bundles [--check]`` (layout in bundles/README.md).

The bundles stay self-contained MONAI bundles: each runs from its own folder, and its shared files are written out,
not included at run time. The source of those files is ``bundles/_base/``:

- the base files: every ``*.json`` there (``train.json``, ``evaluate.json``, ``inference.json``,
  ``multi_gpu_train.json``) becomes ``<bundle>/configs/<name>``; ``logging.conf`` and ``LICENSE`` are copied;
- ``layers/<name>.json``: pieces several bundles share (the SSL4MIS U-Net, the unlabelled stream of the
  semi-supervised methods, ...);
- ``overlays/<bundle>.json``: one per generated bundle, naming its layers and holding what is its own.

A layer or overlay is a JSON object of *sections*, each named after the generated file(s) it applies to
(``"train.json"``, or ``"train.json+inference.json"`` for both); an overlay also has ``"layers"``, the layers it
stacks, in order. A section is merged onto the base exactly as MONAI merges a list of config files
(``monai.bundle.utils.merge_kv``): a key is an id (``"network_def#_target_"`` sets one value, ``"loss"`` replaces
a whole entry) and a ``"+"`` key appends to a list or updates a dict (``"+train#handlers": [...]``). In a base
config without ``imports`` (``evaluate.json``, ``multi_gpu_train.json``: lists of id overrides themselves) keys are
literal.
Keys a layer adds at the top level are written before the base's first anchor key (``network_def``, else
``initialize``, else ``run``), so a generated file reads like the base; logging.conf and LICENSE are copied byte for
byte.

Deviations from MONAI, both because in a generation source they are always mistakes: a ``"+"`` key whose id is
missing is an error (MONAI warns and copies the value), and so is a key given twice in one file (MONAI warns and keeps
the later value).
"""

from __future__ import annotations

import copy
import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "COPIED_FILES",
    "BundleSyncError",
    "base_configs",
    "is_override_config",
    "load_source",
    "merge_sections",
    "render_bundle",
    "sync_bundles",
]

COPIED_FILES: dict[str, str] = {"configs/logging.conf": "logging.conf", "LICENSE": "LICENSE"}
"""Bundle file -> base file copied byte for byte."""

ANCHORS: tuple[str, ...] = ("network_def", "initialize", "run")
"""Keys a layer adds at the top level go before the first of these the base has (at the end if none)."""

_FIX = "edit bundles/_base/ (base, layers/, overlays/), then run `python -m monai_ext sync-bundles`"


class BundleSyncError(ValueError):
    """A base, layer or overlay file that cannot be merged; the message names the file, the key and the fix."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """``json`` object hook: a key given twice is an error (``monai.bundle`` only warns; the later value would win)."""
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def load_source(path: str | Path) -> dict:
    """Read one JSON file of ``bundles/_base/``; a duplicate key is refused.

    Raises:
        BundleSyncError: unreadable or invalid JSON, duplicate keys, or not a JSON object.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_refuse_duplicates)
    except OSError as e:
        raise BundleSyncError(f"{path}: cannot read it ({e.strerror}).") from None
    except ValueError as e:
        raise BundleSyncError(f"{path}: not valid JSON ({e}); fix the file.") from None
    if not isinstance(data, dict):
        raise BundleSyncError(f"{path}: must hold a JSON object, got {type(data).__name__}.")
    return data


def base_configs(base_dir: str | Path) -> list[str]:
    """The generated configs: every ``*.json`` directly in ``base_dir``, written to ``<bundle>/configs/``.

    Raises:
        BundleSyncError: ``base_dir`` holds no JSON file.
    """
    names = sorted(p.name for p in Path(base_dir).glob("*.json"))
    if not names:
        raise BundleSyncError(f"{base_dir}: no base configs (*.json); run from the repository root or pass "
                              "--bundles-dir BUNDLES.")
    return names


def is_override_config(config: Mapping) -> bool:
    """Whether a base config is a list of id overrides of another config (no ``imports``: ``evaluate.json``,
    ``multi_gpu_train.json``), whose keys are merged literally, rather than a workflow config of its own."""
    return "imports" not in config


def _check_sections(source: Mapping, path: Path, allowed: tuple[str, ...], configs: list[str]) -> None:
    for name, body in source.items():
        if name in allowed:
            continue
        unknown = [f for f in name.split("+") if f not in configs]
        if unknown:
            raise BundleSyncError(
                f"{path}: unknown section {name!r}; name sections after the generated files they apply to, "
                f"{' / '.join(configs)}, joined with '+' for several (e.g. 'train.json+inference.json')."
            )
        if not isinstance(body, dict):
            raise BundleSyncError(f"{path}: section {name!r} must be a JSON object of id: value, got {body!r}.")


def merge_sections(base: Mapping, sections: list[tuple[str, Mapping]], literal_keys: bool = False) -> dict:
    """Merge config sections onto a base config as ``monai.bundle`` merges config files; the base is not modified.

    Args:
        base: the base config.
        sections: ``(where, section)`` pairs applied in order; ``where`` names the section in errors
            (``"bundles/_base/overlays/x.json, section 'train.json'"``).
        literal_keys: keys are literal top-level keys (for configs that are id overrides themselves) instead of
            ``#`` id paths.

    Returns:
        The merged config, top-level keys added by the sections placed before the base's first anchor key.

    Raises:
        BundleSyncError: a key whose parent id does not exist, a ``+`` key whose id does not exist or holds another
            type, or an index past the end of a list.
    """
    from monai.bundle import ConfigParser
    from monai.bundle.utils import MERGE_KEY, merge_kv

    merged = copy.deepcopy(dict(base))
    target: Any = merged if literal_keys else ConfigParser(config=merged)
    for where, section in sections:
        for key, value in section.items():
            if key.startswith(MERGE_KEY) and key[len(MERGE_KEY):] not in target:
                raise BundleSyncError(
                    f"{where}: {key!r} appends to id {key[len(MERGE_KEY):]!r}, which the base and earlier layers do "
                    "not define; check the id, or set it without '+'."
                )
            try:
                merge_kv(target, key, copy.deepcopy(value))
            except (KeyError, IndexError, ValueError, TypeError) as e:
                parent = key.lstrip(MERGE_KEY).rpartition("#")[0]
                raise BundleSyncError(
                    f"{where}: cannot set {key!r} ({type(e).__name__}: {e}); its parent id {parent!r} must exist in "
                    "the base or an earlier layer (a list index must be in range, a '+' value must match the type)."
                ) from None
    result = target if literal_keys else target.get()
    return _order_like(base, result)


def _order_like(base: Mapping, merged: dict) -> dict:
    """``merged`` with the top-level keys that ``base`` lacks moved before the base's first anchor key."""
    added = [k for k in merged if k not in base]
    anchor = next((a for a in ANCHORS if a in base), None)
    if not added or anchor is None:
        return merged
    ordered: dict = {}
    for key in merged:
        if key == anchor:
            ordered.update((k, merged[k]) for k in added)
        if key not in added:
            ordered[key] = merged[key]
    return ordered


def _render_json(config: Mapping) -> str:
    """The text of a generated config: the layout of the bundles' hand-written configs (indent 4, final newline)."""
    return json.dumps(config, indent=4) + "\n"


def render_bundle(base_dir: str | Path, overlay_file: str | Path) -> dict[str, bytes]:
    """The generated files of one bundle, from the base, the overlay's layers and the overlay.

    Args:
        base_dir: ``bundles/_base``.
        overlay_file: ``bundles/_base/overlays/<bundle>.json``.

    Returns:
        Bundle-relative path (``"configs/train.json"``, ``"LICENSE"``, ...) -> file content.

    Raises:
        BundleSyncError: a missing base file or layer, an unknown section or layer name, or a key that cannot be
            merged (see :func:`merge_sections`); the message names the file.
    """
    base_dir, overlay_file = Path(base_dir), Path(overlay_file)
    configs = base_configs(base_dir)
    overlay = load_source(overlay_file)
    _check_sections(overlay, overlay_file, allowed=("layers",), configs=configs)
    layer_names = overlay.get("layers", [])
    if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
        raise BundleSyncError(f"{overlay_file}: 'layers' must be a list of layer names, got {layer_names!r}.")
    sources: list[tuple[Path, dict]] = []
    for name in layer_names:
        layer_file = base_dir / "layers" / f"{name}.json"
        if not layer_file.is_file():
            known = sorted(p.stem for p in (base_dir / "layers").glob("*.json"))
            raise BundleSyncError(f"{overlay_file}: unknown layer {name!r}; layers in {base_dir / 'layers'}: {known}.")
        layer = load_source(layer_file)
        _check_sections(layer, layer_file, allowed=(), configs=configs)
        sources.append((layer_file, layer))
    sources.append((overlay_file, {k: v for k, v in overlay.items() if k != "layers"}))

    out: dict[str, bytes] = {}
    for config in configs:
        base = load_source(base_dir / config)
        sections = [
            (f"{path}, section {name!r}", body)
            for path, source in sources
            for name, body in source.items()
            if config in name.split("+")
        ]
        merged = merge_sections(base, sections, literal_keys=is_override_config(base))
        out[f"configs/{config}"] = _render_json(merged).encode("utf-8")
    for dst, src in COPIED_FILES.items():
        src_file = base_dir / src
        if not src_file.is_file():
            raise BundleSyncError(f"{src_file}: missing; it is copied into every bundle.")
        out[dst] = src_file.read_bytes()
    return out


def _diff(name: str, overlay: str, checked_in: bytes | None, generated: bytes) -> str:
    old = checked_in.decode("utf-8", errors="replace").splitlines(keepends=True) if checked_in is not None else []
    lines = difflib.unified_diff(
        old,
        generated.decode("utf-8").splitlines(keepends=True),
        fromfile=f"{name} (checked in{'' if checked_in is not None else ': missing'})",
        tofile=f"{name} (generated from bundles/_base + {overlay})",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def sync_bundles(bundles_dir: str | Path = "bundles", check: bool = False, stream: TextIO | None = None) -> int:
    """Write (or, with ``check``, compare) the generated files of every bundle that has an overlay.

    Args:
        bundles_dir: the folder holding ``_base/`` and the bundles.
        check: write nothing; print a unified diff for every bundle file that differs from base + overlay.
        stream: where reports go (default standard output).

    Returns:
        0 when every file is (now) up to date; 1 when ``check`` found files that differ.

    Raises:
        BundleSyncError: no ``_base/overlays/`` under ``bundles_dir``, or a source that cannot be merged.
    """
    stream = stream if stream is not None else sys.stdout
    bundles_dir = Path(bundles_dir)
    base_dir = bundles_dir / "_base"
    overlays = sorted((base_dir / "overlays").glob("*.json"))
    if not overlays:
        raise BundleSyncError(
            f"no overlays in {base_dir / 'overlays'}; run from the repository root or pass --bundles-dir BUNDLES."
        )
    differing: list[str] = []
    written = total = 0
    for overlay_file in overlays:
        bundle = bundles_dir / overlay_file.stem
        files = render_bundle(base_dir, overlay_file)
        total += len(files)
        for rel, content in files.items():
            path = bundle / rel
            current = path.read_bytes() if path.is_file() else None
            if current == content:
                continue
            name = f"{bundles_dir.name}/{bundle.name}/{rel}"
            if check:
                differing.append(name)
                stream.write(_diff(name, f"overlays/{overlay_file.name}", current, content))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                written += 1
                stream.write(f"wrote {name}\n")
    if differing:
        stream.write(
            f"error: {len(differing)} bundle file(s) differ from bundles/_base + overlay: {', '.join(differing)}. "
            f"These files are generated: {_FIX}.\n"
        )
        return 1
    stream.write(f"{total - written} of {total} generated bundle files up to date ({len(overlays)} bundles)"
                 f"{f', {written} written' if written else ''}.\n")
    return 0
