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

"""Tests for monai_ext.networks.nets.sabr_segmentation (SABR-Net model C)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import unittest

import pytest
import torch

from monai_ext.networks.nets import SABRGenerator, SABRSegmentationNet, sabr_encoder_state_from_generator
from tests.fixtures import n_params

_NARROW = {"dim": 16, "num_heads": 2, "decoder_channels": 16, "head_channels": 16}
_HAS_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))



class TestParameterCounts(unittest.TestCase):
    def test_default_counts(self):
        with torch.device("meta"):
            net = SABRSegmentationNet()
            legacy = SABRSegmentationNet(legacy_relu_logits=True)
            four = SABRSegmentationNet(out_channels=4)
            eri = SABRSegmentationNet(boundary_refinement="eri")
        # the public inference path has 4,548,268 / 2,027,820; the plain last conv has no BN (-2 at C = 2)
        self.assertEqual((n_params(net), n_params(net, trainable=True)), (4_548_266, 2_027_818))
        self.assertEqual((n_params(legacy), n_params(legacy, trainable=True)), (4_548_268, 2_027_820))
        self.assertEqual((n_params(four), n_params(four, trainable=True)), (4_550_684, 2_030_236))
        self.assertEqual((n_params(eri), n_params(eri, trainable=True)), (4_925_232, 2_404_784))
        parts = [n_params(m) for m in (net.encoder, net.aspp, net.decoder, net.heads)]
        self.assertEqual(parts, [2_520_448, 186_624, 1_773_866, 67_328])
        self.assertFalse(any(p.requires_grad for p in net.encoder.parameters()))


class TestSABRSegmentationNet(unittest.TestCase):
    def test_train_and_eval_outputs(self):
        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW, out_channels=3).train()
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        coarse, boundary, direction, refined = net(x)
        shapes = [tuple(t.shape) for t in (coarse, boundary, direction, refined)]
        self.assertEqual(shapes, [(2, 3, 64, 64), (2, 2, 64, 64), (2, 8, 64, 64), (2, 3, 64, 64)])
        self.assertFalse(net.encoder.training)  # frozen encoder stays in evaluation mode
        net.eval()
        with torch.no_grad():
            out = net(x)
            feats = net.encoder(x)
            nd = net.num_downsamples
            c, blocks = net.decoder(net.aspp(feats[-1]), (feats[:nd] + feats[nd + 1 : -1])[::-1])
            b, d = net.heads([blocks[-2], blocks[-1]])
        self.assertIsInstance(out, torch.Tensor)
        torch.testing.assert_close(out, net.refiner(c, b, d))

    def test_frozen_encoder_and_refined_gradient(self):
        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW).train()
        refined = net(torch.rand(2, 3, 64, 64))[3]
        refined.square().mean().backward()  # refined branch only: no rounding, so it trains the decoder
        self.assertTrue(all(p.grad is None for p in net.encoder.parameters()))
        self.assertGreater(float(net.decoder.head[1].weight.grad.abs().sum()), 0.0)
        self.assertGreater(float(net.aspp.out_conv[0][0].weight.grad.abs().sum()), 0.0)

    def test_legacy_relu_logits(self):
        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW, legacy_relu_logits=True).train()
        self.assertGreaterEqual(float(net(torch.rand(2, 3, 64, 64))[0].min()), 0.0)
        plain = SABRSegmentationNet(**_NARROW).train()
        self.assertLess(float(plain(torch.rand(2, 3, 64, 64))[0].min()), 0.0)

    def test_eri_refinement(self):
        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW, boundary_refinement="eri").train()
        self.assertFalse(hasattr(net, "heads"))
        coarse, refined = net(torch.rand(2, 3, 64, 64))
        self.assertEqual((tuple(coarse.shape), tuple(refined.shape)), ((2, 2, 64, 64), (2, 2, 64, 64)))
        self.assertEqual(len(net.eri), 3)
        self.assertEqual(tuple(net.eval()(torch.rand(1, 3, 64, 64)).shape), (1, 2, 64, 64))

    def test_weight_transfer_from_generator(self):
        torch.manual_seed(0)
        g = SABRGenerator(img_size=64, dim=16, num_heads=2, z_dim=32, w_dim=32).eval()
        net = SABRSegmentationNet(**_NARROW).eval()
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        with torch.no_grad():
            before = net.encoder(x)[-1]
            net.load_generator_encoder(g)
            for a, b in zip(net.encoder(x), g.encoder(x)):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
        self.assertGreater(float((before - net.encoder(x)[-1]).abs().max()), 1e-3)
        self.assertFalse(any(p.requires_grad for p in net.encoder.parameters()))
        state = sabr_encoder_state_from_generator({"module." + k: v for k, v in g.state_dict().items()})
        self.assertEqual(set(state), set(net.encoder.state_dict()))  # style path, mapping, decoders dropped
        self.assertFalse(any(k.startswith(("up_stages", "mapping", "dec_", "down_conv")) for k in state))

    def test_weight_transfer_errors(self):
        net = SABRSegmentationNet(**_NARROW)
        wide = SABRGenerator(img_size=64, dim=32, num_heads=2, z_dim=32, w_dim=32)
        with self.assertRaisesRegex(ValueError, "has shape .* in the generator but .* here"):
            net.load_generator_encoder(wide)
        with self.assertRaisesRegex(ValueError, "no key starts with 'encoder.conv_first."):
            net.load_generator_encoder({"conv.weight": torch.zeros(1)})
        shallow = SABRGenerator(img_size=64, dim=16, num_heads=2, depths=(2, 3, 1), window_sizes=(8, 16, 8),
                                z_dim=32, w_dim=32)
        with self.assertRaisesRegex(ValueError, "the generator lacks"):
            net.load_generator_encoder(shallow)

    def test_bad_arguments_and_inputs(self):
        for kwargs in ({"boundary_refinement": "crf"}, {"out_channels": 0}, {"aspp_dropout": 1.0},
                       {"spatial_dims": 3}, {"depths": (1,), "window_sizes": (8,), "num_downsamples": 1}):
            with self.assertRaises(ValueError, msg=str(kwargs)):
                SABRSegmentationNet(**{**_NARROW, **kwargs})
        net = SABRSegmentationNet(**_NARROW).eval()
        with self.assertRaisesRegex(ValueError, "SABRSegmentationNet: height and width must be divisible by 16"):
            net(torch.rand(1, 3, 64, 56))
        with self.assertRaisesRegex(ValueError, r"SABRSegmentationNet: expected input of shape \(B, 3, H, W\)"):
            net(torch.rand(1, 64, 64))

    def test_refine_false_returns_the_coarse_logits_the_refinement_starts_from(self):
        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW).eval()
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        heads = []
        net.heads.register_forward_hook(lambda m, args, out: heads.append(out))
        with torch.no_grad():
            refined = net(x)
            net.refine = False
            coarse = net(x)
            self.assertEqual(len(heads), 1)  # the boundary heads did not run without refinement
            expected = net.refiner(coarse, *heads[0])
        self.assertEqual(tuple(coarse.shape), (2, 2, 64, 64))
        torch.testing.assert_close(refined, expected)
        net.train()
        self.assertEqual(len(net(x)), 4)  # training forward unaffected

    @pytest.mark.slow  # the torch.export-based ONNX exporter takes about 10 s on one core
    @unittest.skipUnless(_HAS_ONNX, "onnx, onnxscript and onnxruntime are not installed")
    def test_onnx_export_dynamic_batch(self):
        import onnxruntime

        torch.manual_seed(0)
        net = SABRSegmentationNet(**_NARROW, depths=(2, 1, 1)).eval()  # shifted windows in stage 0; fewer blocks
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sabr_c.onnx")
            batch = torch.export.Dim("batch", min=1, max=64)
            torch.onnx.export(
                net, (torch.rand(2, 3, 64, 64),), path, input_names=["image"], output_names=["logits"],
                dynamic_shapes={"x": {0: batch}}, dynamo=True, optimize=False, verbose=False,
            )
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            for b in (1, 3):
                x = torch.rand(b, 3, 64, 64) * 2 - 1
                with torch.no_grad():
                    ref = net(x)
                out = torch.from_numpy(session.run(None, {"image": x.numpy()})[0])
                self.assertEqual(tuple(out.shape), (b, 2, 64, 64))
                torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    unittest.main()
