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

"""An Ignite handler that gathers per-frame predictions of each source and writes DICOM SR / SEG (and NIfTI).

Inference streams clips one frame per iteration (:func:`monai_ext.data.list_inference_inputs`,
:class:`monai_ext.transforms.USLoadImageFramed`); :class:`USInferenceResultsWriter` collects the predicted label maps
of one source (uint8, cropped to the ultrasound region: a few MB for a long clip, never the images) and, when the
source's last frame has been seen (and at ``COMPLETED`` for anything left), writes (docs/methods/ultrasound-dicom.md,
"What is written back"):

- a multi-frame clip: a TID 1500 Comprehensive 3D SR with per-frame contours (:func:`monai_ext.io.write_us_contour_sr`)
  and DICOM SEGs on key frames (:func:`monai_ext.io.write_us_seg` on derived single-frame key-frame instances);
- a single-frame DICOM: a BINARY DICOM SEG referencing it (:func:`monai_ext.io.write_us_seg`);
- optionally NIfTI label maps (every source, PNG inputs included; :func:`monai_ext.io.write_us_nifti`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import highdicom as hd
import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import IgniteInfo, min_version, optional_import

from monai_ext.data.inference_inputs import output_stem
from monai_ext.io import (
    UltrasoundDicomReader,
    USStructureCode,
    resolve_us_structure,
    write_us_contour_sr,
    write_us_nifti,
    write_us_seg,
)
from monai_ext.utils.atomic import StagedOutputs
from monai_ext.utils.errors import USInputError
from monai_ext.utils.flags import parse_flag
from monai_ext.utils.meta import meta_scalar

Events, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Events")
if TYPE_CHECKING:
    from ignite.engine import Engine
else:
    Engine, _ = optional_import("ignite.engine", IgniteInfo.OPT_IMPORT_VERSION, min_version, "Engine")

__all__ = ["KEYFRAME_POLICIES", "USInferenceResultsWriter", "select_us_keyframes"]

KEYFRAME_POLICIES = ("extremes", "all", "none")
logger = logging.getLogger(__name__)


def _box(value: Any) -> list[int] | None:
    value = meta_scalar(value)
    if isinstance(value, (list, tuple)) and len(value) == 4:
        return [int(meta_scalar(v)) for v in value]
    return None


def select_us_keyframes(
    frames: Sequence[int], areas: Sequence[int], policy: str | Sequence[int] | None = "extremes"
) -> list[int]:
    """The frames of a clip that get a DICOM SEG.

    Args:
        frames: the 0-based source frames that were predicted.
        areas: the pixel area of the first structure in each of those frames (same order).
        policy: ``"extremes"`` (default): the frames of largest and smallest area of the first structure (for an LV
            cavity, end-diastole- and end-systole-like frames; first occurrence on ties; one frame when all areas
            are equal); ``"all"``: every frame; ``"none"`` / None / an empty list: no key frame; a sequence of
            0-based frame indices: those frames (each must have been predicted).

    Returns:
        sorted unique 0-based frame indices.
    """
    frames = [int(f) for f in frames]
    if len(frames) != len(areas):
        raise ValueError(f"{len(frames)} frames but {len(areas)} areas.")
    if policy is None or (isinstance(policy, str) and policy == "none"):
        return []
    if isinstance(policy, str):
        if policy == "all":
            return sorted(frames)
        if policy == "extremes":
            if not frames:
                return []
            a = np.asarray(areas)
            return sorted({frames[int(np.argmax(a))], frames[int(np.argmin(a))]})
        raise ValueError(f"keyframes must be one of {KEYFRAME_POLICIES} or a list of frame indices, got {policy!r}.")
    wanted = [int(f) for f in policy]
    missing = sorted(set(wanted) - set(frames))
    if missing:
        raise ValueError(f"key frames {missing} were not predicted (predicted frames: {frames[0]}..{frames[-1]}).")
    return sorted(set(wanted))


@dataclass
class _Source:
    """Predictions gathered for one input file."""

    path: str
    expected: int
    is_dicom: bool
    n_file_frames: int = 1
    offset: tuple[int, int] = (0, 0)
    # frame -> (h, w) uint8: the label map, or with ``overlapping`` bit s - 1 set where structure s is present
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    areas: dict[int, int] = field(default_factory=dict)  # frame -> pixels of the first structure


class USInferenceResultsWriter:
    """Collect per-frame label maps per source and write DICOM SR / SEG (and optional NIfTI) when a source is done.

    Attach to an evaluator that runs one frame (or image) per item and whose postprocessing leaves, under
    ``pred_key``, the label index map (0 background, ``i`` = ``structures[i - 1]``) **in the source geometry**
    (after ``Invertd``), shape ``(1, X, Y)`` (reader layout) or ``(1, H, W)`` with ``meta["reverse_indexing"]``
    False. The source, frame and frame count come from the prediction's metadata (``filename_or_obj``,
    ``frame_index``) and the item keys ``frame_key`` / ``count_key`` of :func:`monai_ext.data.list_inference_inputs`.
    With ``overlapping=True`` the prediction is instead one binary mask per structure, ``(S, X, Y)``, for networks
    whose structures may overlap (per-structure sigmoids, as MSMO): SR contours and SEG segments then come from each
    structure's own mask, so an overlap is kept in both instead of going to one structure of a label map.

    Outputs in ``output_dir`` (``<stem>`` = :func:`monai_ext.data.output_stem`: the file name without ``.dcm``):

    - clip: ``<stem>_sr.dcm`` (TID 1500 SR, per-frame contours) and, for each key frame ``k`` (0-based),
      ``<stem>_f{k:04d}_keyframe.dcm`` (derived single-frame US image) + ``<stem>_f{k:04d}_seg.dcm`` (SEG on it);
    - single-frame DICOM: ``<stem>_seg.dcm``;
    - with ``write_nifti``: ``<stem>_mask.nii.gz`` for every source (a clip as ``(X, Y, 1, T)``); with
      ``overlapping``, one binary ``<stem>_<structure>_mask.nii.gz`` per structure instead.

    Memory per open source is one uint8 map per frame (label map, or per-structure bits with ``overlapping``),
    cropped to the ultrasound region box when the prediction outside it is empty. ``written`` lists every DICOM file
    written in this run (reset on ``STARTED``), ``outputs`` maps each source path to its files.

    Args:
        output_dir: folder for the outputs (created).
        structures: structure names of the label indices 1..S, keys of :data:`monai_ext.io.US_STRUCTURE_CODES`
            (e.g. ``["breast_lesion"]``, ``["lv", "myocardium", "la"]``) or :class:`~monai_ext.io.USStructureCode`.
        pred_key: output key with the label index map (``(S, X, Y)`` binary masks with ``overlapping``).
        keyframes: key-frame policy of :func:`select_us_keyframes` (``"extremes"``, ``"all"``, ``"none"`` or a list
            of 0-based frame indices applied to every clip).
        write_sr: write the contour SR of clips.
        write_seg: write SEGs (single-frame sources and key frames).
        write_nifti: also write NIfTI label maps.
        min_contour_pixels: SR contours of components smaller than this are dropped (specks).
        frame_key: item key with the 0-based frame index (fallback when the metadata has no ``frame_index``).
        count_key: item key with the number of items of the source.
        algorithm_name: algorithm name written into SEG / SR.
        algorithm_version: algorithm version (default: the monai_ext version).
        manufacturer: Manufacturer of the written instances.
        overlapping: the prediction is ``(S, X, Y)`` binary per-structure masks (at most 8 structures) instead of a
            label map.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        structures: Sequence[str | USStructureCode],
        pred_key: str = "pred_index",
        keyframes: str | Sequence[int] | None = "extremes",
        write_sr: bool = True,
        write_seg: bool = True,
        write_nifti: bool = False,
        min_contour_pixels: int = 1,
        frame_key: str = "frame",
        count_key: str = "num_frames",
        algorithm_name: str = "monai_ext",
        algorithm_version: str | None = None,
        manufacturer: str = "monai_ext",
        overlapping: bool = False,
    ) -> None:
        if isinstance(structures, (str, USStructureCode)) or not isinstance(structures, Sequence) or not structures:
            raise TypeError("structures must be a non-empty sequence of structure names (one per label index).")
        for s in structures:
            resolve_us_structure(s)  # unknown names fail now, not after a whole clip
        if isinstance(keyframes, str) and keyframes not in KEYFRAME_POLICIES:
            raise ValueError(f"keyframes must be one of {KEYFRAME_POLICIES} or a list of frames, got {keyframes!r}.")
        if overlapping and len(structures) > 8:
            raise ValueError(
                f"overlapping masks are kept as 8 bits per pixel: at most 8 structures, got {len(structures)}."
            )
        if int(min_contour_pixels) < 1:
            raise ValueError(f"min_contour_pixels must be >= 1, got {min_contour_pixels}.")
        self.output_dir = Path(output_dir)
        self.structures = list(structures)
        self.pred_key = pred_key
        self.keyframes = keyframes if isinstance(keyframes, str) or keyframes is None else [int(k) for k in keyframes]
        self.write_sr = parse_flag(write_sr, "write_sr")
        self.write_seg = parse_flag(write_seg, "write_seg")
        self.write_nifti = parse_flag(write_nifti, "write_nifti")
        self.min_contour_pixels = int(min_contour_pixels)
        self.frame_key = frame_key
        self.count_key = count_key
        self.algorithm_name = algorithm_name
        self.algorithm_version = algorithm_version
        self.manufacturer = manufacturer
        self.overlapping = parse_flag(overlapping, "overlapping")
        self._dicom = UltrasoundDicomReader()
        self._open: dict[str, _Source] = {}
        self.written: list[Path] = []
        self.outputs: dict[str, list[Path]] = {}
        self._owners: dict[Path, str] = {}  # every file written in this run -> its source

    # ------------------------------------------------------------------------------------------ ignite wiring

    def attach(self, engine: Engine) -> None:
        """Reset on ``STARTED``, collect on ``ITERATION_COMPLETED``, write what is left on ``COMPLETED``."""
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        engine.add_event_handler(Events.COMPLETED, self.flush)

    def reset(self, engine: Engine | None = None) -> None:
        """Forget open sources and the list of written files."""
        self._open.clear()
        self.written = []
        self.outputs = {}
        self._owners = {}

    def __call__(self, engine: Engine) -> None:
        """Take the decollated predictions of the iteration (``engine.state.batch`` / ``engine.state.output``)."""
        batch, output = engine.state.batch, engine.state.output
        if not isinstance(output, list) or not isinstance(batch, list):
            raise TypeError(
                f"{type(self).__name__} needs decollated engine output (a list of dicts); run the evaluator with "
                "decollate=True (the default)."
            )
        for item, out in zip(batch, output):
            if self.pred_key not in out:
                raise KeyError(
                    f"{type(self).__name__}: the output has no {self.pred_key!r} (keys: {sorted(map(str, out))}); "
                    "copy the argmax label map to it in the postprocessing (e.g. CopyItemsd)."
                )
            self.add(out[self.pred_key], item)

    # ------------------------------------------------------------------------------------------ collecting

    def add(self, pred: Any, item: dict | None = None) -> list[Path]:
        """Add the label map of one frame; write the source's outputs when it is complete.

        Args:
            pred: ``(1, X, Y)`` / ``(X, Y)`` label index map, or ``(S, X, Y)`` binary masks with ``overlapping``
                (``MetaTensor`` with the reader metadata).
            item: the (decollated) item dict, for ``frame_key`` / ``count_key`` (optional for DICOM sources).

        Returns:
            the files written by this call (empty until the source is complete).
        """
        item = item or {}
        meta = dict(pred.meta) if isinstance(pred, MetaTensor) else {}
        if not meta and isinstance(item.get("image"), MetaTensor):
            meta = dict(item["image"].meta)
        path = str(meta_scalar(meta.get("filename_or_obj", "")))
        if not path:
            raise ValueError(f"{type(self).__name__}: the prediction has no 'filename_or_obj' metadata.")
        arr = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
        arr = self._pack_structure_masks(path, arr) if self.overlapping else self._label_map(path, arr)
        if bool(meta_scalar(meta.get("reverse_indexing", True))):
            arr = arr.T  # (X, Y) -> (H, W)
        source = self._open.get(path)
        if source is None:
            source = self._new_source(path, meta, item)
            self._open[path] = source
        frame = meta_scalar(meta.get("frame_index", item.get(self.frame_key, 0)))
        frame = 0 if frame is None else int(frame)
        if frame in source.masks:
            raise ValueError(f"{path}: frame {frame} was predicted twice (shuffled or repeated data loader?).")
        source.masks[frame] = self._store(source, arr, meta)
        first = (source.masks[frame] & 1) if self.overlapping else (source.masks[frame] == 1)
        source.areas[frame] = int(first.sum())
        if len(source.masks) >= source.expected:
            return self._finish(self._open.pop(path))
        return []

    def _label_map(self, path: str, arr: np.ndarray) -> np.ndarray:
        """A ``(1, X, Y)`` / ``(X, Y)`` label index map, checked, as ``(X, Y)`` uint8."""
        if arr.ndim == 3 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 2:
            raise ValueError(f"{path}: expected a (1, X, Y) label map per frame, got shape {tuple(arr.shape)}.")
        n = len(self.structures)
        if arr.size and (arr.min() < 0 or arr.max() > n or (arr.dtype.kind == "f" and np.any(np.mod(arr, 1)))):
            raise ValueError(
                f"{path}: {self.pred_key!r} must be a label index map with values 0..{n}, got values in "
                f"[{arr.min()}, {arr.max()}]; use the argmax output, not the mask gray values of USLabelToMaskd."
            )
        return arr.astype(np.uint8)

    def _pack_structure_masks(self, path: str, arr: np.ndarray) -> np.ndarray:
        """``(S, X, Y)`` binary masks -> one ``(X, Y)`` uint8 map with bit ``s`` set where structure ``s + 1`` is."""
        n = len(self.structures)
        if arr.ndim != 3 or arr.shape[0] != n:
            raise ValueError(
                f"{path}: expected ({n}, X, Y) binary masks per frame (one per structure, overlapping=True), got shape "
                f"{tuple(arr.shape)}."
            )
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{path}: {self.pred_key!r} must hold binary masks (0 / 1) with overlapping=True, got values in "
                f"[{arr.min()}, {arr.max()}]; threshold the probabilities first (e.g. AsDiscreted(threshold=0.5))."
            )
        bits = np.left_shift(np.ones(1, dtype=np.uint8), np.arange(n, dtype=np.uint8))
        return np.tensordot(bits, arr.astype(np.uint8), axes=1).astype(np.uint8)

    def _structure_masks(self, packed: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_pack_structure_masks` on ``(..., h, w)`` maps: ``(..., S, h, w)`` uint8 0 / 1."""
        shifts = np.arange(len(self.structures), dtype=np.uint8).reshape(-1, 1, 1)
        return np.right_shift(packed[..., None, :, :], shifts) & 1

    def _new_source(self, path: str, meta: dict, item: dict) -> _Source:
        is_dicom = "SOPInstanceUID" in meta or self._dicom.verify_suffix(path)
        n_file = int(meta_scalar(meta.get("NumberOfFrames", 1))) if is_dicom else 1
        expected = meta_scalar(item.get(self.count_key))
        expected = int(expected) if isinstance(expected, (int, np.integer, float)) else n_file
        return _Source(path=path, expected=max(expected, 1), is_dicom=is_dicom, n_file_frames=n_file)

    def _store(self, source: _Source, arr: np.ndarray, meta: dict) -> np.ndarray:
        """Region crop of a full-frame label map (when nothing lies outside it); sets the source's crop offset."""
        if not source.is_dicom:
            return arr
        rows = int(meta_scalar(meta.get("Rows", arr.shape[0])))
        columns = int(meta_scalar(meta.get("Columns", arr.shape[1])))
        offset = (0, 0)
        if arr.shape != (rows, columns):
            crop = _box(meta.get("crop_box"))
            if crop is None or arr.shape != (crop[3] - crop[1] + 1, crop[2] - crop[0] + 1):
                raise ValueError(
                    f"{source.path}: the prediction is {arr.shape[0]} x {arr.shape[1]} but the source frame is "
                    f"{rows} x {columns} (rows x columns); invert the resize (and region crop) with Invertd before "
                    f"{type(self).__name__}."
                )
            offset = (crop[0], crop[1])
        else:
            region = _box(meta.get("region_box"))
            if region is not None:
                x0, y0, x1, y1 = region
                inside = arr[y0 : y1 + 1, x0 : x1 + 1]
                if int(np.count_nonzero(inside)) == int(np.count_nonzero(arr)):
                    arr, offset = np.ascontiguousarray(inside), (x0, y0)
        if source.masks and (offset != source.offset or arr.shape != next(iter(source.masks.values())).shape):
            # frames of one clip normally share their geometry; if not, fall back to full frames for all
            return self._to_full(source, arr, offset, rows, columns)
        source.offset = offset
        return arr

    def _to_full(self, source: _Source, arr: np.ndarray, offset: tuple[int, int], rows: int, columns: int):
        def full(a: np.ndarray, off: tuple[int, int]) -> np.ndarray:
            out = np.zeros((rows, columns), dtype=np.uint8)
            out[off[1] : off[1] + a.shape[0], off[0] : off[0] + a.shape[1]] = a
            return out

        source.masks = {k: full(v, source.offset) for k, v in source.masks.items()}
        source.offset = (0, 0)
        return full(arr, offset)

    # ------------------------------------------------------------------------------------------ writing

    def flush(self, engine: Engine | None = None) -> list[Path]:
        """Write the outputs of every source still open (incomplete sources with a warning)."""
        paths: list[Path] = []
        for path in list(self._open):
            source = self._open.pop(path)
            warnings.warn(
                f"{path}: only {len(source.masks)} of {source.expected} frame(s) were predicted; writing them.",
                stacklevel=2,
            )
            paths.extend(self._finish(source))
        return paths

    def _finish(self, source: _Source) -> list[Path]:
        """Write every output of one source: all of them or, when one fails, none (staged, then renamed)."""
        frames = sorted(source.masks)
        # (T, h, w) label maps, or (T, S, h, w) per-structure masks with overlapping: decoded once for every writer
        per_frame = np.stack([source.masks[f] for f in frames])
        if self.overlapping:
            per_frame = self._structure_masks(per_frame)
        with StagedOutputs() as stage:
            dicom_paths, other = self._write_all(source, frames, per_frame, stage)
            self._claim(source.path, dicom_paths + other)
        self.written.extend(dicom_paths)
        self.outputs[source.path] = dicom_paths + other
        if dicom_paths or other:
            logger.info(f"{source.path}: wrote {', '.join(p.name for p in dicom_paths + other)}")
        return dicom_paths

    def _claim(self, source: str, paths: list[Path]) -> None:
        """Refuse to overwrite a file that this run wrote for another source (inputs whose output names clash)."""
        for p in paths:
            owner = self._owners.get(p)
            if owner is not None and owner != source:
                raise USInputError(
                    f"{source}: its output {p} was already written for {owner} in this run; rename one of the two "
                    "inputs or segment them in separate runs."
                )
        self._owners.update({p: source for p in paths})

    def _write_all(
        self, source: _Source, frames: list[int], per_frame: np.ndarray, stage: StagedOutputs
    ) -> tuple[list[Path], list[Path]]:
        """Write the outputs of ``source`` to ``stage``'s temporary names; returns the final DICOM and other paths."""
        stem = output_stem(source.path)
        out = self.output_dir
        dicom_paths: list[Path] = []
        other: list[Path] = []
        common = dict(algorithm_name=self.algorithm_name, algorithm_version=self.algorithm_version)
        if source.is_dicom and source.n_file_frames > 1:
            if self.write_sr:
                final = out / f"{stem}_sr.dcm"
                write_us_contour_sr(
                    source.path,
                    per_frame,
                    self.structures,
                    stage.path(final),
                    frame_indices=frames,
                    crop_offset=source.offset,
                    min_pixels=self.min_contour_pixels,
                    manufacturer=self.manufacturer,
                    **common,
                )
                dicom_paths.append(final)
            if self.write_seg:
                chosen = select_us_keyframes(frames, [source.areas[f] for f in frames], self.keyframes)
                series = hd.UID()
                for number, k in enumerate(chosen, start=1):
                    seg_final, key_final = out / f"{stem}_f{k:04d}_seg.dcm", out / f"{stem}_f{k:04d}_keyframe.dcm"
                    write_us_seg(
                        source.path,
                        per_frame[frames.index(k)],
                        self.structures,
                        stage.path(seg_final),
                        frame_index=k,
                        crop_offset=source.offset,
                        keyframe_path=stage.path(key_final),
                        series_instance_uid=series,
                        instance_number=number,
                        manufacturer=self.manufacturer,
                        **common,
                    )
                    dicom_paths.extend([key_final, seg_final])
        elif source.is_dicom and self.write_seg:
            final = out / f"{stem}_seg.dcm"
            write_us_seg(
                source.path,
                per_frame[0],
                self.structures,
                stage.path(final),
                crop_offset=source.offset,
                manufacturer=self.manufacturer,
                **common,
            )
            dicom_paths.append(final)
        if self.write_nifti:
            volume = per_frame if len(frames) > 1 else per_frame[0]
            if self.overlapping:
                # structures given as codes have no name: they are numbered as in the SEG (1-based)
                names = [n if isinstance(n, str) else f"structure{s + 1}" for s, n in enumerate(self.structures)]
                maps = {f"{stem}_{n}_mask.nii.gz": volume[..., s, :, :] for s, n in enumerate(names)}
            else:
                maps = {f"{stem}_mask.nii.gz": volume}
            for name, nifti_volume in maps.items():
                write_us_nifti(
                    nifti_volume,
                    stage.path(out / name),
                    source=source.path if source.is_dicom else None,
                    crop_offset=source.offset,
                )
                other.append(out / name)
        return dicom_paths, other
