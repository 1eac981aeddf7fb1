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

"""Tests of monai_ext.io.structure_codes: the SNOMED CT table, name resolution and the writers' structure_names."""

from __future__ import annotations

import unittest

import highdicom as hd

from monai_ext.io import US_STRUCTURE_CODES, USStructureCode, resolve_us_structure
from monai_ext.io.structure_codes import resolve_structure_names


class TestStructureCodes(unittest.TestCase):
    def test_spec_table(self):
        lv, myo, la = (US_STRUCTURE_CODES[k] for k in ("lv", "myocardium", "la"))
        self.assertEqual((lv.category.value, lv.property_type.value), ("91723000", "87878005"))
        self.assertEqual((myo.category.value, myo.property_type.value), ("85756007", "49848007"))
        self.assertEqual((la.category.value, la.property_type.value), ("91723000", "82471001"))
        lesion = US_STRUCTURE_CODES["breast_lesion"]
        self.assertEqual((lesion.category.value, lesion.property_type.value), ("49755003", "52988006"))
        self.assertEqual([c.value for c in lesion.anatomic_regions], ["76752008"])
        nodule = US_STRUCTURE_CODES["thyroid_nodule"]
        self.assertEqual((nodule.property_type.value, nodule.anatomic_regions[0].value), ("27925004", "69748006"))
        self.assertEqual(US_STRUCTURE_CODES["breast_mass"].property_type.value, "4147007")
        self.assertEqual(US_STRUCTURE_CODES["myocardium_generic"].property_type.value, "74281007")
        self.assertTrue(all(c.category.scheme_designator == "SCT" for c in US_STRUCTURE_CODES.values()))

    def test_resolve(self):
        self.assertIs(resolve_us_structure("LV"), US_STRUCTURE_CODES["lv"])
        self.assertIs(resolve_us_structure("Breast-Lesion"), US_STRUCTURE_CODES["breast_lesion"])
        custom = USStructureCode(hd.sr.CodedConcept("1", "99X", "a"), hd.sr.CodedConcept("2", "99X", "b"))
        self.assertIs(resolve_us_structure(custom), custom)
        with self.assertRaisesRegex(ValueError, "unknown structure 'liver'.*known names"):
            resolve_us_structure("liver")
        with self.assertRaises(TypeError):
            resolve_us_structure(3)

    def test_structure_names(self):
        pairs = resolve_structure_names(["LV", "breast_lesion"])
        self.assertEqual([label for label, _ in pairs], ["LV", "breast_lesion"])
        self.assertEqual([code for _, code in pairs], [US_STRUCTURE_CODES["lv"], US_STRUCTURE_CODES["breast_lesion"]])
        custom = USStructureCode(hd.sr.CodedConcept("1", "99X", "a"), hd.sr.CodedConcept("2", "99X", "bone"))
        self.assertEqual(resolve_structure_names([custom]), [("bone", custom)])  # labelled by its property type
        with self.assertRaisesRegex(TypeError, "sequence of names"):
            resolve_structure_names("lv")
        with self.assertRaisesRegex(ValueError, "empty"):
            resolve_structure_names([])
        with self.assertRaisesRegex(ValueError, "must be unique"):
            resolve_structure_names(["lv", "LV "])
        with self.assertRaisesRegex(ValueError, "unknown structure 'liver'"):
            resolve_structure_names(["lv", "liver"])


if __name__ == "__main__":
    unittest.main()
