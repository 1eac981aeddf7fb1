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

"""Tests of monai_ext.io.dicom_reader on the ultrasound files shipped in pydicom / pydicom-data and on phantom clips.

The sample files come from the installed packages only (``get_testdata_file(name, download=False)``); sockets are
blocked for the whole module so that nothing can be downloaded.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import tracemalloc
import unittest
import warnings
from pathlib import Path

import numpy as np
import pydicom
from monai.data import MetaTensor
from monai.transforms import EnsureChannelFirstd, LoadImage, LoadImaged
from parameterized import parameterized
from pydicom.pixels import apply_color_lut, pixel_array

import monai_ext.io.dicom_header as dh
from monai_ext.io import (
    UltrasoundDicomReader,
    USCalibrationWarning,
    USDicomError,
    compute_us_overlay_mask,
    iter_us_frames,
    read_us_header,
    write_phantom_clip,
)
from tests.fixtures import pydicom_sample

_real_connect = socket.socket.connect


def _no_network(*args, **kwargs):
    raise AssertionError("network access attempted during the DICOM reader tests")


def setUpModule():  # noqa: N802 - unittest hook
    socket.socket.connect = _no_network


def tearDownModule():  # noqa: N802 - unittest hook
    socket.socket.connect = _real_connect


sample = pydicom_sample  # a sample file of the installed packages (never downloaded)


def read(path, **kwargs):
    reader = UltrasoundDicomReader(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", USCalibrationWarning)
        return reader.get_data(reader.read(path))


def luma(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


# name, kwargs, expected shape (C, X, Y[, T]), spacing_source, expected spacing (mm) or None
SAMPLE_CASES = [
    ["examples_ybr_color.dcm", {}, (1, 320, 240, 30), "none", None],
    ["examples_rgb_color.dcm", {}, (1, 320, 240), "none", None],
    ["examples_palette.dcm", {}, (1, 800, 350), "none", None],
    ["examples_jpeg2k.dcm", {}, (1, 640, 480), "none", None],
    ["ExplVR_BigEnd.dcm", {}, (1, 80, 60), "none", None],
    ["US1_UNCR.dcm", {}, (1, 640, 480), "none", None],
    ["US1_J2KR.dcm", {}, (1, 640, 480), "none", None],
    ["US1_J2KI.dcm", {}, (1, 640, 480), "none", None],
    ["OBXXXX1A_rle_2frame.dcm", {}, (1, 680, 459, 2), "region", 0.2622878766],
    ["gdcm-US-ALOKA-16.dcm", {}, (1, 304, 392), "region", 0.3826530650],
    ["JPGLosslessP14SV1_1s_1f_8b.dcm", {}, (1, 997, 721), "region", 0.2547669659],
    [
        "color3d_jpeg_baseline.dcm",
        {"frames": [0, 60, 119], "overlay_policy": "none"},
        (1, 512, 384, 3),
        "region",
        0.5104970559,
    ],
    ["examples_rgb_color.dcm", {"grayscale": False}, (3, 320, 240), "none", None],
    ["examples_ybr_color.dcm", {"frames": 4, "reverse_indexing": False}, (1, 240, 320), "none", None],
]


class TestRealSamples(unittest.TestCase):
    @parameterized.expand(SAMPLE_CASES)
    def test_shape_and_calibration(self, name, kwargs, shape, source, spacing):
        arr, meta = read(sample(name), **kwargs)
        self.assertEqual(arr.shape, shape)
        self.assertEqual(arr.dtype, np.float32)
        self.assertEqual(meta["spacing_source"], source)
        self.assertEqual(meta["original_channel_dim"], 0)
        if spacing is None:
            self.assertEqual(meta["spacing"], [1.0, 1.0])
            self.assertEqual(meta["spacing_units"], "pixel")
        else:
            np.testing.assert_allclose(meta["spacing"], [spacing, spacing], rtol=1e-6)
            self.assertEqual(meta["spacing_units"], "mm")
            np.testing.assert_allclose(np.diag(meta["affine"])[:2], [spacing, spacing], rtol=1e-6)

    def test_ybr_luma_exact_and_frame_order(self):
        # YBR_FULL_422 JPEG: the grey output is the decoder's Y plane, frames in the requested order.
        path = sample("examples_ybr_color.dcm")
        arr, meta = read(path, frames=[5, 2, 9], overlay_policy="none", colour_policy="keep", decoding_plugin="pillow")
        self.assertEqual(meta["frame_indices"], [5, 2, 9])
        self.assertEqual(meta["frame_numbers"], [6, 3, 10])
        for k, i in enumerate([5, 2, 9]):
            ybr = pixel_array(path, index=i, as_rgb=False, decoding_plugin="pillow")
            np.testing.assert_array_equal(arr[0, :, :, k], ybr[..., 0].T.astype(np.float32))
        # frames differ from each other (the order is meaningful)
        self.assertGreater(np.abs(arr[0, :, :, 0] - arr[0, :, :, 1]).mean(), 0.5)
        np.testing.assert_allclose(meta["t_ms"], [5 * 33.333, 2 * 33.333, 9 * 33.333])

    def test_rgb_luma_and_doppler_policies(self):
        path = sample("examples_rgb_color.dcm")  # power Doppler, RGB
        rgb = pixel_array(path)
        grey = luma(rgb).T
        chroma = (rgb.max(-1).astype(int) - rgb.min(-1)).T
        colour = chroma > 30
        self.assertGreater(colour.sum(), 1000)
        keep, meta = read(path, colour_policy="keep")
        np.testing.assert_allclose(keep[0], grey, atol=1e-3)
        self.assertEqual(meta["colour_pixels"], 0)
        masked, meta = read(path)  # default "mask": colour pixels zeroed and flagged
        self.assertEqual(meta["colour_pixels"], int(colour.sum()))
        np.testing.assert_array_equal(meta["colour_mask"].astype(bool), colour)
        self.assertTrue(np.all(masked[0][colour] == 0))
        np.testing.assert_allclose(masked[0][~colour], grey[~colour], atol=1e-3)
        with self.assertRaisesRegex(USDicomError, "examples_rgb_color.dcm.*colour"):
            read(path, colour_policy="reject")
        rgb_out, _ = read(path, grayscale=False, colour_policy="keep")
        np.testing.assert_array_equal(rgb_out, np.moveaxis(rgb, -1, 0).transpose(0, 2, 1).astype(np.float32))

    def test_palette_lut(self):
        path = sample("examples_palette.dcm")
        ds = pydicom.dcmread(path)
        mapped = apply_color_lut(pixel_array(path), ds).astype(np.float64) / 257.0
        arr, meta = read(path, colour_policy="keep")
        np.testing.assert_allclose(arr[0], luma(mapped).T, atol=1e-3)
        self.assertEqual(meta["value_range"], [0.0, 255.0])
        # a hand-checked pixel: index 244 -> the grey LUT entry (x << 8) / 257
        index = int(pixel_array(path)[100, 400])
        entry = ds.RedPaletteColorLookupTableData
        red = np.frombuffer(entry, dtype="<u2")[index]
        self.assertAlmostEqual(float(arr[0, 400, 100]), red / 257.0, places=3)

    def test_jpeg2000_equals_uncompressed(self):
        # US1_J2KR is the lossless JPEG 2000 (YBR_RCT) encoding of US1_UNCR (RGB): identical grey.
        ref, _ = read(sample("US1_UNCR.dcm"), colour_policy="keep")
        lossless, meta = read(sample("US1_J2KR.dcm"), colour_policy="keep")
        np.testing.assert_array_equal(lossless, ref)
        self.assertEqual(meta["PhotometricInterpretation"], "YBR_RCT")
        lossy, _ = read(sample("US1_J2KI.dcm"), colour_policy="keep")
        self.assertLess(np.abs(lossy - ref).mean(), 3.0)

    def test_rle_equals_uncompressed_multiframe(self):
        rle, meta = read(sample("OBXXXX1A_rle_2frame.dcm"))
        raw, _ = read(sample("OBXXXX1A_2frame.dcm"))
        np.testing.assert_array_equal(rle, raw)
        self.assertEqual(meta["crop_box"], [120, 60, 799, 518])  # MaxX1 == Columns clamped by one pixel
        self.assertNotEqual(float(np.abs(rle[..., 0] - rle[..., 1]).mean()), 0.0)

    def test_invalid_region_warns(self):
        # region not rescaled with the pixel data (docs/methods/ultrasound-dicom.md, "Region calibration"): spacing
        # unknown, warning, no crop
        for name in ("examples_ybr_color.dcm", "examples_palette.dcm"):
            reader = UltrasoundDicomReader(frames=0)
            with self.assertWarnsRegex(USCalibrationWarning, "outside"):
                arr, meta = reader.get_data(reader.read(sample(name)))
            self.assertEqual(meta["crop_box"], "none")
            self.assertEqual(meta["spacing_source"], "none")
            np.testing.assert_array_equal(meta["affine"], np.eye(4))
        with self.assertWarnsRegex(USCalibrationWarning, "no SequenceOfUltrasoundRegions"):
            read_us_header(sample("US1_UNCR.dcm"))

    def test_valid_region_crop_and_affine(self):
        path = sample("color3d_jpeg_baseline.dcm")
        with warnings.catch_warnings():
            warnings.simplefilter("error", USCalibrationWarning)  # calibrated: no warning
            crop, meta = read(path, frames=[7], overlay_policy="none", colour_policy="keep")
        full, _ = read(path, frames=[7], overlay_policy="none", colour_policy="keep", crop_to_region=False)
        self.assertEqual(full.shape, (1, 640, 480, 1))
        self.assertEqual(meta["region_box"], [84, 31, 595, 414])
        self.assertEqual(meta["crop_offset"], [84, 31])
        np.testing.assert_array_equal(crop, full[:, 84:596, 31:415])
        d = 0.5104970559477806
        np.testing.assert_allclose(meta["affine"][:2, 3], [84 * d, 31 * d])
        self.assertEqual(meta["SOPInstanceUID"], pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        self.assertEqual(meta["NumberOfFrames"], 120)
        self.assertAlmostEqual(meta["frame_time_ms"], 33.333, places=3)

    def test_streaming_memory_bounded(self):
        # 120 frames of 480 x 640 x 3: the whole clip is 110 MB as uint8 RGB; one processed frame is < 1 MB.
        path = sample("color3d_jpeg_baseline.dcm")
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_us_frames(path, overlay_policy="none", colour_policy="keep"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertEqual(count, 120)
        self.assertLess(peak, 30e6)


class TestPhantomClips(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, cls.masks = write_phantom_clip(cls.tmp / "clip.dcm", frames=8, size=64, seed=3)
        cls.gt = np.load(cls.tmp / "clip_masks.npz")
        cls.ds = pydicom.dcmread(cls.clip)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def variant(self, name: str, edit) -> str:
        ds = pydicom.dcmread(self.clip)
        edit(ds)
        path = self.tmp / name
        ds.save_as(path, enforce_file_format=True)
        return str(path)

    def test_default_read(self):
        arr, meta = read(self.clip)
        x0, y0, x1, y1 = (int(v) for v in self.gt["region_box"])
        self.assertEqual(arr.shape, (1, x1 - x0 + 1, y1 - y0 + 1, 8))
        self.assertEqual(meta["spacing_source"], "region")
        np.testing.assert_allclose(meta["spacing"], [2.5, 2.5])  # 16 cm over 64 px
        np.testing.assert_allclose(meta["t_ms"], np.arange(8) * 33.333)
        self.assertEqual(meta["time_source"], "frame_time")
        for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            self.assertEqual(meta[key], str(self.ds[key].value))
        # pixels equal the stored frames except the blanked burned-in graphics
        stored = self.ds.pixel_array[:, y0 : y1 + 1, x0 : x1 + 1].transpose(2, 1, 0).astype(np.float32)
        overlay = self.gt["overlay"][y0 : y1 + 1, x0 : x1 + 1].T
        static = (stored.max(-1) == stored.min(-1)) & (stored.max(-1) > 0)
        self.assertGreater(overlay.sum(), 0)
        self.assertTrue(np.all(static[overlay]))  # the burned-in graphics are static
        self.assertEqual(meta["overlay_pixels"], int(static.sum()))
        self.assertTrue(np.all(arr[0][static] == 0))  # default overlay_policy="blank"
        np.testing.assert_array_equal(arr[0][~static], stored[~static])

    def test_overlay_policies_and_cache(self):
        mask_arr, meta = read(self.clip, overlay_policy="mask")
        found = meta["overlay_mask"].astype(bool)
        x0, y0, x1, y1 = (int(v) for v in self.gt["region_box"])
        truth = self.gt["overlay"][y0 : y1 + 1, x0 : x1 + 1].T
        self.assertTrue(np.all(found[truth]))  # every burned-in graphic inside the region is found
        self.assertLess((found & ~truth).sum(), 0.01 * found.size)
        self.assertTrue(np.all(mask_arr[0][truth] == 220))  # "mask" keeps the pixels
        none_arr, meta = read(self.clip, overlay_policy="none")
        self.assertEqual(meta["overlay_pixels"], 0)
        np.testing.assert_array_equal(none_arr, mask_arr)
        # a subset of frames still uses the whole clip for the temporal test
        _, sub_meta = read(self.clip, overlay_policy="mask", frames=[1, 2])
        np.testing.assert_array_equal(sub_meta["overlay_mask"], found.astype(np.uint8))
        np.testing.assert_array_equal(compute_us_overlay_mask(self.clip), found)

    def test_iterator_matches_reader(self):
        full, meta = read(self.clip)
        frames = list(iter_us_frames(self.clip, frames=[6, 1]))
        self.assertEqual([i for i, _, _ in frames], [6, 1])
        for (_index, frame, fmeta), k in zip(frames, (6, 1)):
            np.testing.assert_array_equal(frame, full[..., k])
            self.assertEqual(fmeta["frame_number"], k + 1)
            self.assertAlmostEqual(fmeta["t_ms"], k * 33.333)
        cached = compute_us_overlay_mask(self.clip)
        again = [f for _, f, _ in iter_us_frames(self.clip, overlay_mask=cached)]
        np.testing.assert_array_equal(np.stack(again, -1), full)
        with self.assertRaises(TypeError):
            next(iter_us_frames(self.clip, gray=True))

    def test_loadimage_integration(self):
        img = LoadImage(reader=UltrasoundDicomReader(), image_only=True)(self.clip)
        self.assertIsInstance(img, MetaTensor)
        self.assertEqual(img.shape[0], 1)
        self.assertEqual(img.shape[-1], 8)
        np.testing.assert_allclose(img.pixdim[:2].numpy(), [2.5, 2.5])
        self.assertEqual(img.meta["filename_or_obj"], str(self.clip))
        self.assertEqual(img.meta["spacing_source"], "region")
        data = LoadImaged(keys="image", reader=UltrasoundDicomReader(frames=2))({"image": str(self.clip)})
        data = EnsureChannelFirstd(keys="image")(data)  # no-op: already channel-first
        self.assertEqual(tuple(data["image"].shape), tuple(img.shape[:3]))
        np.testing.assert_array_equal(data["image"].numpy(), img[..., 2].numpy())
        self.assertEqual(data["image"].meta["frame_indices"], [2])
        # bundle JSON names the reader by its dotted path
        by_name = LoadImage(reader="monai_ext.io.UltrasoundDicomReader", image_only=True)(self.clip)
        np.testing.assert_array_equal(by_name.numpy(), img.numpy())
        # several files are stacked as channels
        two = LoadImage(reader=UltrasoundDicomReader(frames=0), image_only=True)([self.clip, self.clip])
        self.assertEqual(two.shape[0], 2)

    def test_layout_options(self):
        arr, _ = read(self.clip, reverse_indexing=False, crop_to_region=False, overlay_policy="none")
        self.assertEqual(arr.shape, (1, 72, 64, 8))
        np.testing.assert_array_equal(arr[0], np.moveaxis(self.ds.pixel_array, 0, -1))
        rgb, _ = read(self.clip, grayscale=False, frames=0)
        self.assertEqual(rgb.shape[0], 3)
        np.testing.assert_array_equal(rgb[0], rgb[2])
        u8, _ = read(self.clip, dtype=np.uint8, frames=0)
        self.assertEqual(u8.dtype, np.uint8)

    def test_monochrome1_inverted(self):
        def to_mono1(ds):
            ds.PhotometricInterpretation = "MONOCHROME1"

        path = self.variant("mono1.dcm", to_mono1)
        arr, _ = read(path, overlay_policy="none", crop_to_region=False)
        np.testing.assert_array_equal(arr[0], 255.0 - np.moveaxis(self.ds.pixel_array, 0, -1).transpose(1, 0, 2))

    def test_rle_clip(self):
        path = self.variant("rle.dcm", lambda ds: ds.compress(pydicom.uid.RLELossless))
        self.assertEqual(
            pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID, pydicom.uid.RLELossless
        )
        np.testing.assert_array_equal(read(path)[0], read(self.clip)[0])

    def test_jpeg_clip(self):
        path, _ = write_phantom_clip(self.tmp / "clip_jpeg.dcm", frames=8, size=64, seed=3, jpeg=True)
        arr, meta = read(path, overlay_policy="none")
        ref, _ = read(self.clip, overlay_policy="none")
        self.assertEqual(meta["PhotometricInterpretation"], "YBR_FULL_422")
        self.assertEqual(arr.shape, ref.shape)
        self.assertLess(np.abs(arr - ref).mean(), 3.0)

    def test_timing_variants(self):
        def vector_only(ds):
            del ds.FrameTime, ds.CineRate, ds.RecommendedDisplayFrameRate
            ds.FrameTimeVector = [0, 30, 30, 40, 40, 30, 30, 30]
            ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTimeVector")

        _, meta = read(self.variant("ftv.dcm", vector_only), frames=[0, 3, 7])
        self.assertEqual(meta["time_source"], "frame_time_vector")
        np.testing.assert_allclose(meta["t_ms"], [0, 100, 230])

        def cine_rate_only(ds):
            del ds.FrameTime
            ds.CineRate = 25

        _, meta = read(self.variant("cine.dcm", cine_rate_only), frames=[2])
        np.testing.assert_allclose(meta["t_ms"], [80.0])

        def trimmed(ds):
            ds.StartTrim, ds.StopTrim = 3, 5

        path = self.variant("trim.dcm", trimmed)
        arr, meta = read(path)
        self.assertEqual(meta["frame_indices"], [2, 3, 4])
        self.assertEqual(arr.shape[-1], 3)
        self.assertEqual(read(path, use_trim=False)[0].shape[-1], 8)

    def test_region_rules(self):
        rows, cols = int(self.ds.Rows), int(self.ds.Columns)

        def region(**values):
            def edit(ds):
                item = ds.SequenceOfUltrasoundRegions[0]
                for key, value in values.items():
                    setattr(item, key, value)

            return edit

        # anisotropic: spacing per axis, in (x, y) and in (row, column) order
        path = self.variant("aniso.dcm", region(PhysicalDeltaX=0.2, PhysicalDeltaY=0.3))
        np.testing.assert_allclose(read(path, frames=0)[1]["spacing"], [2.0, 3.0])
        np.testing.assert_allclose(read(path, frames=0, reverse_indexing=False)[1]["spacing"], [3.0, 2.0])
        # max side overflow by exactly one pixel: clamped
        path = self.variant("over1.dcm", region(RegionLocationMaxX1=cols, RegionLocationMaxY1=rows))
        arr, meta = read(path, frames=0)
        self.assertEqual(meta["spacing_source"], "region")
        self.assertEqual(meta["crop_box"][2:], [cols - 1, rows - 1])
        # far outside: refused, with a warning, never rescaled
        path = self.variant("outside.dcm", region(RegionLocationMaxX1=cols + 40))
        reader = UltrasoundDicomReader(frames=0)
        with self.assertWarnsRegex(USCalibrationWarning, "outside"):
            arr, meta = reader.get_data(reader.read(path))
        self.assertEqual((meta["spacing_source"], meta["crop_box"]), ("none", "none"))
        self.assertEqual(arr.shape, (1, cols, rows))
        # not cm: crop still applies, spacing unknown
        path = self.variant("percent.dcm", region(PhysicalUnitsXDirection=1, PhysicalUnitsYDirection=1))
        _, meta = read(path, frames=0)
        self.assertEqual(meta["spacing_source"], "none")
        self.assertEqual(meta["crop_box"], [int(v) for v in self.gt["region_box"]])

        # no region but PixelSpacing (rare for US): used, in (row, column) order
        def pixel_spacing(ds):
            del ds.SequenceOfUltrasoundRegions
            ds.PixelSpacing = [0.4, 0.3]

        _, meta = read(self.variant("ps.dcm", pixel_spacing), frames=0)
        self.assertEqual(meta["spacing_source"], "pixel_spacing")
        np.testing.assert_allclose(meta["spacing"], [0.3, 0.4])


class TestErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())
        cls.clip, _ = write_phantom_clip(cls.tmp / "clip.dcm", frames=3, size=32, seed=0)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def variant(self, name, edit):
        ds = pydicom.dcmread(self.clip)
        edit(ds)
        path = self.tmp / name
        ds.save_as(path, enforce_file_format=True)
        return str(path)

    def test_not_dicom(self):
        path = self.tmp / "notes.dcm"
        path.write_text("not a dicom file")
        with self.assertRaisesRegex(USDicomError, r"notes\.dcm: not a DICOM"):
            read(path)
        self.assertTrue(issubclass(USDicomError, ValueError))
        with self.assertRaisesRegex(USDicomError, "no such file"):
            read(self.tmp / "missing.dcm")

    def test_no_pixel_data(self):
        def strip(ds):
            del ds.PixelData

        path = self.variant("nopixels.dcm", strip)
        with self.assertRaisesRegex(USDicomError, r"nopixels\.dcm: .*no pixel data"):
            read(path)

    def test_not_ultrasound(self):
        def to_ct(ds):
            ds.SOPClassUID = pydicom.uid.CTImageStorage
            ds.Modality = "CT"

        path = self.variant("ct.dcm", to_ct)
        with self.assertRaisesRegex(USDicomError, r"ct\.dcm: not an ultrasound image.*CT Image Storage"):
            read(path)
        arr, _ = read(path, require_us=False, frames=0)
        self.assertEqual(arr.ndim, 3)
        arr, meta = read(sample("SC_ybr_full_uncompressed.dcm"), require_us=False, colour_policy="keep")
        ybr = pixel_array(sample("SC_ybr_full_uncompressed.dcm"), as_rgb=False)
        np.testing.assert_array_equal(arr[0], ybr[..., 0].T.astype(np.float32))  # YBR_FULL: luma plane

    def test_enhanced_us_volume_rejected(self):
        def to_enhanced(ds):
            ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.2"

        path = self.variant("enhanced.dcm", to_enhanced)
        with self.assertRaisesRegex(USDicomError, "Enhanced US Volume"):
            read(path, require_us=False)

    def test_missing_decoder(self):
        path = sample("examples_ybr_color.dcm")
        missing = [
            "gdcm - requires gdcm>=3.0.10",
            "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1",
            "pillow - requires pillow>=10.0",
        ]
        original = dh._available_plugins
        dh._available_plugins = lambda ts: (False, (), missing)
        try:
            with self.assertRaisesRegex(USDicomError, r"examples_ybr_color\.dcm: cannot decode JPEG Baseline") as ctx:
                read(path)
            self.assertIn("pip install pylibjpeg pylibjpeg-libjpeg", str(ctx.exception))
            self.assertIn("pylibjpeg-libjpeg>=2.1", str(ctx.exception))
        finally:
            dh._available_plugins = original
        with self.assertRaisesRegex(USDicomError, "decoding plugin 'gdcm' is not available"):
            read(path, decoding_plugin="gdcm")
        read(self.clip, decoding_plugin="gdcm", frames=0)  # uncompressed data needs no plugin

    def test_bad_arguments(self):
        with self.assertRaisesRegex(USDicomError, "frame index 5 out of range"):
            read(self.clip, frames=5)
        with self.assertRaises(ValueError):
            UltrasoundDicomReader(colour_policy="average")
        with self.assertRaises(ValueError):
            UltrasoundDicomReader(overlay_policy="erase")
        with self.assertRaises(TypeError):
            UltrasoundDicomReader(frames="first")
        with self.assertRaisesRegex(ValueError, "cannot hold"):
            read(sample("gdcm-US-ALOKA-16.dcm"), dtype=np.int8)
        self.assertEqual(read(self.clip, frames=-1)[1]["frame_indices"], [2])

    def test_verify_suffix(self):
        reader = UltrasoundDicomReader()
        self.assertTrue(reader.verify_suffix("a/b/clip.DCM"))
        self.assertTrue(reader.verify_suffix(["x.dcm", "y.dicom"]))
        self.assertFalse(reader.verify_suffix("image.png"))
        bare = self.tmp / "IM0001"
        shutil.copy(self.clip, bare)
        self.assertTrue(reader.verify_suffix(str(bare)))
        text = self.tmp / "README"
        text.write_text("x" * 200)
        self.assertFalse(reader.verify_suffix(str(text)))


if __name__ == "__main__":
    unittest.main()
