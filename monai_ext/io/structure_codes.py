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

"""Coded concepts of the structures the DICOM writers segment (docs/methods/ultrasound-dicom.md, "Coded concepts").

Moved out of :mod:`monai_ext.io.seg_writer`, which the SEG, SR and key-frame writers all used for it. It holds:

- :class:`USStructureCode`: the SNOMED CT concepts of one structure (segmented property category / type, anatomic
  regions, reported procedure);
- :data:`US_STRUCTURE_CODES`: structure name (lower case) -> :class:`USStructureCode`, aliases sharing one entry;
- :func:`resolve_us_structure`: one name (or code) -> its concepts;
- :func:`resolve_structure_names`: the ``structure_names`` argument of the writers -> ``(label, code)`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

__all__ = ["USStructureCode", "US_STRUCTURE_CODES", "resolve_structure_names", "resolve_us_structure"]

@dataclass(frozen=True)
class USStructureCode:
    """Coded concepts of one segmented structure (DICOM Segment Description / TID 1500 finding).

    Args:
        category: Segmented Property Category (CID 7150), e.g. ``codes.SCT.AnatomicalStructure``.
        property_type: Segmented Property Type (CID 7151 and friends), e.g. ``codes.SCT.LeftVentricle``; also the
            finding type of the SR measurement groups.
        anatomic_regions: Anatomic Region Sequence items (and SR finding sites), e.g. ``(codes.SCT.Breast,)``.
        procedure: the imaging procedure an SR reports for this structure (TID 1500 "Procedure reported").
    """

    category: Code
    property_type: Code
    anatomic_regions: tuple[Code, ...] = ()
    procedure: Code = field(default=codes.SCT.DiagnosticUltrasonography)


_LV = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.LeftVentricle, procedure=codes.SCT.Echocardiography)
_LV_MYO = USStructureCode(codes.SCT.Tissue, codes.SCT.LeftVentricleMyocardium, procedure=codes.SCT.Echocardiography)
_LA = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.LeftAtrium, procedure=codes.SCT.Echocardiography)
_RV = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.RightVentricle, procedure=codes.SCT.Echocardiography)
_RA = USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.RightAtrium, procedure=codes.SCT.Echocardiography)

US_STRUCTURE_CODES: dict[str, USStructureCode] = {
    # lesions (BUSI-style breast ultrasound: the default meaning of "lesion" in this project is not assumed;
    # "breast_lesion" adds the anatomic region)
    "lesion": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion),
    "breast_lesion": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Lesion, (codes.SCT.Breast,)),
    "breast_mass": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Mass, (codes.SCT.Breast,)),
    "mass": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Mass),
    "nodule": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Nodule),
    "thyroid_nodule": USStructureCode(
        codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Nodule, (codes.SCT.Thyroid,)
    ),
    "cyst": USStructureCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Cyst),
    # echocardiography (CAMUS-style labels; "myocardium" is the LV myocardium, as in the cardiac phantom)
    "lv": _LV,
    "left_ventricle": _LV,
    "lv_cavity": _LV,
    "lv_endocardium": _LV,
    "myocardium": _LV_MYO,
    "lv_myocardium": _LV_MYO,
    "la": _LA,
    "left_atrium": _LA,
    "rv": _RV,
    "right_ventricle": _RV,
    "ra": _RA,
    "right_atrium": _RA,
    "myocardium_generic": USStructureCode(
        codes.SCT.Tissue, Code("74281007", "SCT", "Myocardium"), procedure=codes.SCT.Echocardiography
    ),
    "heart": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.Heart, procedure=codes.SCT.Echocardiography),
    # organs / vessels
    "thyroid": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.Thyroid),
    "common_carotid_artery": USStructureCode(codes.SCT.AnatomicalStructure, codes.SCT.CommonCarotidArtery),
}
"""Structure name (lower case) -> SNOMED CT concepts, per docs/methods/ultrasound-dicom.md, "Coded concepts". Aliases
share one entry."""


def resolve_us_structure(structure: str | USStructureCode) -> USStructureCode:
    """The coded concepts of a structure given by name (case-insensitive, ``-``/space = ``_``) or as a code.

    Raises:
        ValueError: an unknown name (the message lists the known names).
        TypeError: neither a string nor a :class:`USStructureCode`.
    """
    if isinstance(structure, USStructureCode):
        return structure
    if not isinstance(structure, str):
        raise TypeError(f"a structure must be a name or a USStructureCode, got {type(structure).__name__}.")
    key = structure.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in US_STRUCTURE_CODES:
        raise ValueError(
            f"unknown structure {structure!r}; known names: {sorted(US_STRUCTURE_CODES)} "
            "(or pass a USStructureCode with your own codes)."
        )
    return US_STRUCTURE_CODES[key]



def resolve_structure_names(
    structure_names: Sequence[str | USStructureCode],
) -> list[tuple[str, USStructureCode]]:
    """The writers' ``structure_names``: one ``(label, code)`` pair per structure, in order.

    Args:
        structure_names: names (keys of :data:`US_STRUCTURE_CODES`) or :class:`USStructureCode` objects; a name is
            its own label, a code is labelled with the meaning of its property type.

    Returns:
        ``[(label, code), ...]``.

    Raises:
        TypeError: not a sequence of names / codes (a single string included).
        ValueError: an empty sequence, an unknown name, or labels that are not unique (case-insensitive).
    """
    if isinstance(structure_names, (str, USStructureCode)) or not isinstance(structure_names, Sequence):
        raise TypeError("structure_names must be a sequence of names (or USStructureCode), one per structure.")
    if len(structure_names) == 0:
        raise ValueError("structure_names is empty.")
    out = []
    for s in structure_names:
        code = resolve_us_structure(s)
        label = s if isinstance(s, str) else f"{code.property_type.meaning}"
        out.append((label, code))
    labels = [label for label, _ in out]
    if len({label.strip().lower() for label in labels}) != len(labels):
        raise ValueError(f"structure_names must be unique, got {labels}.")
    return out
