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

"""TID 1500 Structured Report with per-frame contours for ultrasound clips (docs/methods/ultrasound-dicom.md,
"Structured report with contours").

A DICOM SEG cannot reference the frames of a clip without a Frame of Reference (docs/methods/ultrasound-dicom.md, "DICOM
SEG"), an SR can: every connected component of every structure in every frame becomes one TID 1410 planar ROI
measurement group whose region is a closed POLYLINE (SCOORD, image pixel coordinates) referencing the clip frame
(ReferencedFrameNumber, 1-based), with the structure's SNOMED CT finding type (:data:`monai_ext.io.US_STRUCTURE_CODES`)
and, when the source is calibrated, its area in cm².

Contours come from :func:`trace_mask_contours`, an exact crack-following boundary tracer: vertices lie on pixel
corners in the DICOM / highdicom image coordinate convention (``(0, 0)`` = top-left corner of the top-left pixel,
``x`` = column, ``y`` = row, pixel centres at ``+0.5``), so the polygon covers exactly the mask pixels and its
shoelace area equals the pixel count. Holes are joined to the outer boundary by a zero-width "keyhole" cut (as in
RT Structure Sets), or filled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid
from scipy import ndimage

from monai_ext.utils.atomic import atomic_output

from .dicom_header import select_us_region
from .structure_codes import USStructureCode, resolve_structure_names
from .writer_inputs import (
    check_binary_masks,
    check_label_map,
    complete_source_header,
    count_frames,
    masks_to_numpy,
    read_source_header,
    resolve_algorithm_version,
    source_name,
)

__all__ = ["trace_mask_contours", "USContourSRResult", "write_us_contour_sr"]

_E, _S, _W, _N = (1, 0), (0, 1), (-1, 0), (0, -1)
_CM2 = hd.sr.CodedConcept("cm2", "UCUM", "cm2")
HOLE_POLICIES = ("keyhole", "fill")


# ------------------------------------------------------------------------------------------------ contours


def _left(d: tuple[int, int]) -> tuple[int, int]:
    # image coordinates have y pointing down: heading east, "left" is north
    return d[1], -d[0]


def _right(d: tuple[int, int]) -> tuple[int, int]:
    return -d[1], d[0]


def _boundary_loops(comp: np.ndarray, eight: bool) -> list[list[tuple[int, int]]]:
    """Closed pixel-edge loops of a zero-padded bool mask; corners only, foreground on the right of the walk.

    Outer boundaries come out clockwise on screen (positive shoelace area with y down), holes counter-clockwise.
    Where two foreground pixels touch diagonally only (a saddle vertex) the walk turns left for 8-connectivity
    (joining them) and right for 4-connectivity (separating them), so every component has one outer loop.
    """
    up, down = np.zeros_like(comp), np.zeros_like(comp)
    left, right = np.zeros_like(comp), np.zeros_like(comp)
    up[1:], down[:-1] = comp[:-1], comp[1:]
    left[:, 1:], right[:, :-1] = comp[:, :-1], comp[:, 1:]
    outgoing: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for side, (dx, dy), direction in (
        (~up, (0, 0), _E),  # top edge: (c, r) -> (c + 1, r)
        (~right, (1, 0), _S),  # right edge: (c + 1, r) -> (c + 1, r + 1)
        (~down, (1, 1), _W),  # bottom edge: (c + 1, r + 1) -> (c, r + 1)
        (~left, (0, 1), _N),  # left edge: (c, r + 1) -> (c, r)
    ):
        rows, cols = np.nonzero(comp & side)
        for r, c in zip(rows.tolist(), cols.tolist()):
            outgoing.setdefault((c + dx, r + dy), []).append(direction)
    turn = _left if eight else _right
    used: set[tuple[tuple[int, int], tuple[int, int]]] = set()
    loops = []
    for start, directions in outgoing.items():
        for start_dir in directions:
            if (start, start_dir) in used:
                continue
            vertex, d, walk = start, start_dir, []
            while (vertex, d) not in used:
                used.add((vertex, d))
                walk.append((vertex, d))
                vertex = (vertex[0] + d[0], vertex[1] + d[1])
                options = outgoing[vertex]
                d_in = d
                d = options[0] if len(options) == 1 else turn(d_in)
            # keep corners only: vertices where the direction changes
            loops.append([v for i, (v, dv) in enumerate(walk) if walk[i - 1][1] != dv])
    return loops


def _shoelace(points: Sequence[tuple[float, float]]) -> float:
    xy = np.asarray(points, dtype=np.float64)
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _keyhole(outer: list, holes: list[list]) -> list:
    """Join holes to the outer loop with zero-width vertical cuts (top-most hole first, cut straight up)."""
    polygon = list(outer)
    for hole in sorted(holes, key=lambda h: (min(p[1] for p in h), min(p[0] for p in h))):
        top = min(p[1] for p in hole)
        n = len(hole)
        j = next(i for i in range(n) if hole[i][1] == top and hole[(i + 1) % n][1] == top)
        x_cut = min(hole[j][0], hole[(j + 1) % n][0]) + 0.5  # half-integer: never on a vertical edge
        start = (x_cut, top)
        hole_path = [start, *hole[j + 1 :], *hole[: j + 1], start]
        best, best_y = -1, -np.inf
        m = len(polygon)
        for i in range(m):
            a, b = polygon[i], polygon[(i + 1) % m]
            if a[1] == b[1] and best_y < a[1] < top and min(a[0], b[0]) < x_cut < max(a[0], b[0]):
                best, best_y = i, a[1]
        if best < 0:  # cannot happen for a hole inside its component; keep the outer boundary rather than fail
            continue
        bridge = (x_cut, best_y)
        polygon = [*polygon[: best + 1], bridge, *hole_path, bridge, *polygon[best + 1 :]]
    return polygon


def trace_mask_contours(
    mask: Any, connectivity: int = 8, holes: str = "keyhole", min_pixels: int = 1
) -> list[np.ndarray]:
    """Closed polygons around the connected components of a 2D binary mask (one polygon per component).

    Args:
        mask: ``(H, W)`` binary array (row, column).
        connectivity: 8 (diagonal neighbours join) or 4.
        holes: ``"keyhole"`` joins each hole to the outer boundary with a zero-width cut so the polygon covers the
            mask exactly (even-odd fill); ``"fill"`` keeps the outer boundary only (holes filled).
        min_pixels: drop components with fewer pixels.

    Returns:
        a list of ``(N, 2)`` float arrays of ``(x = column, y = row)`` image coordinates with ``(0, 0)`` at the top-left
        corner of the top-left pixel; each is closed (last point == first), traced clockwise on screen, components in
        raster order of their first pixel.
    """
    mask = masks_to_numpy(mask, "mask")
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2D (H, W), got shape {mask.shape}.")
    mask = check_binary_masks(mask, "mask")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}.")
    if holes not in HOLE_POLICIES:
        raise ValueError(f"holes must be one of {HOLE_POLICIES}, got {holes!r}.")
    structure = np.ones((3, 3), dtype=bool) if connectivity == 8 else None
    labels, n = ndimage.label(mask, structure=structure)
    polygons = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        comp = np.pad(labels[box] == index, 1)
        if int(comp.sum()) < min_pixels:
            continue
        loops = _boundary_loops(comp, connectivity == 8)
        areas = [_shoelace(loop) for loop in loops]
        outer_i = int(np.argmax(areas))
        outer = loops[outer_i]
        inner = [loop for i, loop in enumerate(loops) if i != outer_i and areas[i] < 0]
        polygon = _keyhole(outer, inner) if holes == "keyhole" and inner else outer
        xy = np.asarray(polygon + [polygon[0]], dtype=np.float64)
        xy += (box[1].start - 1, box[0].start - 1)  # padded local -> mask coordinates
        polygons.append(xy)
    return polygons


# ------------------------------------------------------------------------------------------------ SR


@dataclass
class USContourSRResult:
    """What :func:`write_us_contour_sr` wrote.

    Attributes:
        sr_path: the SR file.
        n_regions: number of planar ROI measurement groups (contours) in the report.
        absent_structures: labels reported as absent (no contour in any frame).
        regions_per_structure: structure label -> number of contours over all frames.
        frame_numbers: the 1-based source frame numbers the masks were given for (None for a single-frame source).
        area_unit: ``"cm2"`` when areas were written, None when the spacing is unknown (or areas were disabled).
        spacing_source: ``"region"``, ``"pixel_spacing"`` or ``"none"`` (docs/methods/ultrasound-dicom.md, "Region
            calibration").
    """

    sr_path: Path
    n_regions: int
    absent_structures: list[str]
    regions_per_structure: dict[str, int]
    frame_numbers: list[int] | None
    area_unit: str | None
    spacing_source: str


def _sr_masks(masks: Any, n_structures: int, name: str) -> tuple[np.ndarray, bool]:
    """-> (``(T, H, W)`` label maps or ``(T, S, H, W)`` bool masks, is_label_map); split per frame later."""
    arr = masks_to_numpy(masks, "masks")
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 3:
        return check_label_map(arr, n_structures, name), True
    if arr.ndim == 4:
        if arr.shape[1] != n_structures:
            raise ValueError(
                f"{name}: masks of shape {arr.shape} have {arr.shape[1]} structure channel(s) (axis 1) but "
                f"{n_structures} structure name(s) were given."
            )
        return check_binary_masks(arr, name), False
    raise ValueError(
        f"{name}: masks must be (T, H, W) label maps or (T, S, H, W) per-structure masks (or one (H, W) label map "
        f"for a single-frame source), got shape {arr.shape}."
    )


def _frame_list(frame_indices: Sequence[int] | None, n_masks: int, n_frames: int, name: str) -> list[int]:
    if frame_indices is None:
        if n_masks != n_frames:
            raise ValueError(
                f"{name}: {n_masks} mask frame(s) for a source of {n_frames} frame(s); pass frame_indices (0-based, "
                "the reader's metadata 'frame_indices') to say which frames the masks belong to."
            )
        return list(range(n_frames))
    indices = [int(i) for i in frame_indices]
    if len(indices) != n_masks:
        raise ValueError(f"{name}: {len(indices)} frame_indices for {n_masks} mask frame(s).")
    bad = [i for i in indices if not 0 <= i < n_frames]
    if bad:
        raise ValueError(f"{name}: frame_indices {bad} are out of range for {n_frames} frame(s).")
    if len(set(indices)) != len(indices):
        raise ValueError(f"{name}: frame_indices must be unique, got {indices}.")
    return indices


def _offset(
    shape_hw: tuple[int, int], rows: int, columns: int, crop_offset: Sequence[int] | None, name: str
) -> tuple[int, int]:
    h, w = shape_hw
    if crop_offset is None:
        if (h, w) != (rows, columns):
            raise ValueError(
                f"{name}: masks are {h} x {w} (rows x columns) but the source frame is {rows} x {columns}; pass "
                "crop_offset=(x0, y0) for masks of the region crop (reader metadata 'crop_offset'), or set "
                "reverse_indexing=True for (X, Y) ordered masks."
            )
        return 0, 0
    if len(crop_offset) != 2:
        raise ValueError(f"crop_offset must be (x0, y0) full-frame (column, row), got {crop_offset!r}.")
    x0, y0 = (int(v) for v in crop_offset)
    if x0 < 0 or y0 < 0 or x0 + w > columns or y0 + h > rows:
        raise ValueError(
            f"{name}: masks of {h} x {w} at crop_offset (x0, y0) = ({x0}, {y0}) do not fit the "
            f"{rows} x {columns} source frame."
        )
    return x0, y0


def write_us_contour_sr(
    source_clip: str | os.PathLike | Dataset,
    masks: Any,
    structure_names: Sequence[str | USStructureCode],
    out_path: str | os.PathLike,
    *,
    frame_indices: Sequence[int] | None = None,
    crop_offset: Sequence[int] | None = None,
    reverse_indexing: bool = False,
    connectivity: int = 8,
    holes: str = "keyhole",
    min_pixels: int = 1,
    include_area: bool = True,
    report_absent: bool = True,
    procedure_reported: Code | Sequence[Code] | None = None,
    series_instance_uid: str | None = None,
    series_number: int = 400,
    sop_instance_uid: str | None = None,
    instance_number: int = 1,
    manufacturer: str = "monai_ext",
    algorithm_name: str = "monai_ext",
    algorithm_version: str | None = None,
    series_description: str | None = "AI contours",
) -> USContourSRResult:
    """Write a Comprehensive 3D SR (TID 1500 measurement report) with per-frame contours of an ultrasound clip.

    Every connected component of each structure in each given frame becomes a planar ROI measurement group:
    tracking identifier ``"<structure> frame <k>"`` (``" part <j>"`` added when a structure has several components
    in a frame; no frame for single-frame sources), a closed POLYLINE region in full-frame pixel coordinates
    referencing the source frame ``k`` (1-based), the structure's finding type, category and anatomic sites, the
    algorithm identification and, when the source has a valid calibration (docs/methods/ultrasound-dicom.md, "Region
    calibration") and the contour lies inside the calibrated region, its area in cm². Frames or structures with an
    empty mask produce no group.

    Args:
        source_clip: the source DICOM (path or dataset), multi-frame or single-frame.
        masks: ``(T, H, W)`` integer label maps (0 background, ``i`` = ``structure_names[i - 1]``) or ``(T, S, H, W)``
            binary per-structure masks; one ``(H, W)`` label map is accepted for a single-frame source. Full frame,
            or the region crop with ``crop_offset``. numpy arrays or torch tensors.
        structure_names: keys of :data:`~monai_ext.io.US_STRUCTURE_CODES` or :class:`~monai_ext.io.USStructureCode`.
        out_path: the SR file to write.
        frame_indices: 0-based source frame of each mask frame (the reader's ``frame_indices``); default all frames
            (then ``T`` must equal the number of frames).
        crop_offset: full-frame ``(x0, y0)`` of the first mask pixel (the reader's ``crop_offset``).
        reverse_indexing: masks are ``(..., X, Y)`` (the reader's default layout) instead of ``(..., H, W)``.
        connectivity: 8 or 4 (see :func:`trace_mask_contours`).
        holes: ``"keyhole"`` or ``"fill"`` (see :func:`trace_mask_contours`).
        min_pixels: ignore components with fewer pixels.
        include_area: write the area (cm²) of each contour when the spacing is known.
        report_absent: add a TID 1501 group "Presence of property: Absent" (referencing the given frames) for each
            structure with no contour in any frame; with False, a report without any contour raises ValueError.
        procedure_reported: TID 1500 procedure code(s); default from the structures (Echocardiography for cardiac
            structures, Diagnostic ultrasonography otherwise).
        series_instance_uid: SR series (default: new).
        series_number: SR SeriesNumber.
        sop_instance_uid: SR SOPInstanceUID (default: new).
        instance_number: SR InstanceNumber.
        manufacturer: equipment Manufacturer of the SR.
        algorithm_name: algorithm (and observer device) name.
        algorithm_version: algorithm version (default: the monai_ext version).
        series_description: SR SeriesDescription (None: none).

    Returns:
        a :class:`USContourSRResult`.
    """
    name = source_name(source_clip)
    structures = resolve_structure_names(structure_names)
    header = complete_source_header(read_source_header(source_clip), name)
    n_frames = count_frames(header)
    rows, columns = int(header.Rows), int(header.Columns)
    arr, is_label_map = _sr_masks(masks, len(structures), name)
    if reverse_indexing:
        arr = np.swapaxes(arr, -1, -2)
    x0, y0 = _offset(arr.shape[-2:], rows, columns, crop_offset, name)
    indices = _frame_list(frame_indices, arr.shape[0], n_frames, name)

    region, spacing, spacing_source, _ = select_us_region(header)
    with_area = include_area and spacing is not None
    if spacing_source == "region" and region is not None:
        calibrated_box = (region.x0, region.y0, region.x1 + 1, region.y1 + 1)  # pixel-corner coordinates
    else:
        calibrated_box = (0, 0, columns, rows)
    version = resolve_algorithm_version(algorithm_version)
    algorithm = hd.sr.AlgorithmIdentification(name=algorithm_name, version=version)
    sop_class, sop_instance = str(header.SOPClassUID), str(header.SOPInstanceUID)

    groups = []
    counts = {label: 0 for label, _ in structures}
    for t, frame in enumerate(indices):
        for s, (label, code) in enumerate(structures):
            mask = arr[t] == s + 1 if is_label_map else arr[t, s]
            polygons = trace_mask_contours(mask, connectivity, holes, min_pixels)
            for part, polygon in enumerate(polygons, start=1):
                polygon = polygon + (x0, y0)
                identifier = label if n_frames == 1 else f"{label} frame {frame + 1}"
                if len(polygons) > 1:
                    identifier += f" part {part}"
                measurements = None
                lo, hi = polygon.min(axis=0), polygon.max(axis=0)
                inside = (
                    lo[0] >= calibrated_box[0]
                    and lo[1] >= calibrated_box[1]
                    and hi[0] <= calibrated_box[2]
                    and hi[1] <= calibrated_box[3]
                )
                if with_area and inside:
                    area_cm2 = abs(_shoelace(polygon[:-1])) * spacing[0] * spacing[1] / 100.0
                    measurements = [hd.sr.Measurement(name=codes.SCT.Area, value=area_cm2, unit=_CM2)]
                groups.append(
                    hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier[:64]),
                        referenced_region=hd.sr.ImageRegion(
                            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
                            graphic_data=polygon,
                            source_image=hd.sr.SourceImageForRegion(
                                referenced_sop_class_uid=sop_class,
                                referenced_sop_instance_uid=sop_instance,
                                referenced_frame_numbers=[frame + 1] if n_frames > 1 else None,
                            ),
                        ),
                        finding_type=code.property_type,
                        finding_category=code.category,
                        algorithm_id=algorithm,
                        finding_sites=[hd.sr.FindingSite(anatomic_location=c) for c in code.anatomic_regions] or None,
                        measurements=measurements,
                    )
                )
                counts[label] += 1

    if report_absent:
        # TID 1501 groups say explicitly which structures were looked for and not found (and keep the report valid:
        # TID 1500 needs at least one measurement group)
        source_images = [
            hd.sr.SourceImageForMeasurementGroup(
                referenced_sop_class_uid=sop_class,
                referenced_sop_instance_uid=sop_instance,
                referenced_frame_numbers=[i + 1 for i in indices] if n_frames > 1 else None,
            )
        ]
        for label, code in structures:
            if counts[label] == 0:
                groups.append(
                    hd.sr.MeasurementsAndQualitativeEvaluations(
                        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{label} absent"[:64]),
                        finding_type=code.property_type,
                        finding_category=code.category,
                        algorithm_id=algorithm,
                        finding_sites=[hd.sr.FindingSite(anatomic_location=c) for c in code.anatomic_regions] or None,
                        qualitative_evaluations=[
                            hd.sr.QualitativeEvaluation(name=codes.DCM.PresenceOfProperty, value=codes.DCM.Absent)
                        ],
                        source_images=source_images,
                    )
                )
    if not groups:
        raise ValueError(f"{name}: no structure was found in any frame and report_absent=False: nothing to report.")
    if procedure_reported is None:
        procedure_reported = list(dict.fromkeys(code.procedure for _, code in structures))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(prefix=PYDICOM_ROOT_UID, entropy_srcs=["monai_ext device", algorithm_name, version]),
            name=algorithm_name,
            manufacturer_name=manufacturer,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=procedure_reported,
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[header],
        content=report,
        series_instance_uid=series_instance_uid or hd.UID(),
        series_number=int(series_number),
        sop_instance_uid=sop_instance_uid or hd.UID(),
        instance_number=int(instance_number),
        manufacturer=manufacturer,
        is_complete=True,
    )
    if series_description:
        sr.SeriesDescription = str(series_description)[:64]
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp:  # never a half-written file under the final name
        sr.save_as(tmp)
    return USContourSRResult(
        sr_path=out_path,
        n_regions=sum(counts.values()),
        absent_structures=[label for label, n in counts.items() if n == 0],
        regions_per_structure=counts,
        frame_numbers=[i + 1 for i in indices] if n_frames > 1 else None,
        area_unit="cm2" if with_area else None,
        spacing_source=spacing_source,
    )
