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
"""Train (tracked in MLflow), evaluate, infer and check the MSMO bundle at tiny size; run by
tests/bundles/test_bundle_msmo.py in a subprocess (one bundle per process, docs/methods/bundles.md, "The scripts
package").

The shared tests/bundles/bundle_worker.py shrinks the baselines through their ``features`` list; MSMO is sized by
``dim_mult`` and counts its run in epochs (per-epoch cosine), hence this worker.

Usage: python msmo_worker.py BUNDLE_DIR WORK_DIR TASK DECODER TRACKING_URI RESULT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bundle_worker import (
    evaluate_test_split,
    infer_png_folder,
    phantom_overrides,
    read_tracked_run,
    start_tracked_training,
)

__all__ = ["SMALL", "main"]

# 4 labelled training images at batch 2: 2 iterations per epoch, 2 epochs, validation after each epoch
SMALL = {
    "image_size": [64, 64],
    "dim_mult": 1,
    "labeled_batch_size": 2,
    "unlabeled_batch_size": 2,
    "epochs": 2,
    "val_interval": 1,
    "checkpoint_interval": 2,
    "num_workers": 0,
    "split#labeled": 0.25,
}


def main() -> None:
    import torch

    from monai_ext.bundle_checks import check_bundle

    torch.set_num_threads(1)
    bundle, work, task, decoder, tracking_uri, result_file = sys.argv[1:7]
    bundle, work = Path(bundle).resolve(), Path(work).resolve()
    data, common = phantom_overrides(bundle, work, task, dict(SMALL, decoder=decoder))
    configs = bundle / "configs"
    result: dict = {}

    # train, tracked in MLflow; record the learning rate each iteration runs with (per-epoch cosine)
    train = start_tracked_training(configs, tracking_uri, bundle.name, common)
    result["train_properties"] = train.check_properties()
    trainer = train.parser.get_parsed_content("train#trainer")
    from ignite.engine import Events

    lrs: list[float] = []
    trainer.add_event_handler(Events.ITERATION_STARTED,
                              lambda e: lrs.append(e.optimizer.param_groups[0]["lr"]))
    train.run()
    result["train_iterations"] = trainer.state.iteration
    result["train_epochs"] = trainer.state.epoch
    result["lrs"] = lrs
    net = train.parser.get_parsed_content("network")
    result["network"] = {"class": type(net).__name__, "decoder": net.decoder_name,
                         "channels_last": net.encoder.stem.conv1.conv.weight.is_contiguous(
                             memory_format=torch.channels_last)}
    # the configured supervised loss is docs/methods/msmo.md, "Losses and ramp-up": mean over objects of 0.5 BCE + (1 -
    # mean_b soft Dice_b), with soft Dice_b = (2 sum p y + 1e-5) / (sum p + sum y + 1e-5); checked against that formula
    # on 3 objects
    loss = train.parser.get_parsed_content("loss")
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(2, 3, 8, 8, generator=g), (torch.rand(2, 3, 8, 8, generator=g) > 0.6).float()
    p = torch.sigmoid(logits)
    dice = (2 * (p * y).sum((2, 3)) + 1e-5) / (p.sum((2, 3)) + y.sum((2, 3)) + 1e-5)  # (batch, object)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none").mean((0, 2, 3))
    manual = (0.5 * bce + 1 - dice.mean(0)).mean()
    result["loss_check"] = [float(loss(logits, y)), float(manual)]
    evaluator = train.parser.get_parsed_content("validate#evaluator")
    result["val_metrics"] = {k: float(v) for k, v in evaluator.state.metrics.items()}
    result["validations"] = evaluator.state.epoch
    train.finalize()
    result["checkpoints"] = sorted(str(p.relative_to(work)) for p in (work / "models").rglob("*.pt"))

    result.update(read_tracked_run(tracking_uri, bundle.name, ("method", "task", "decoder", "lr_schedule", "epochs")))
    result.update(evaluate_test_split(configs, work, tracking_uri, bundle.name, common))
    inf_overrides = {"task": task, "decoder": decoder, "image_size": SMALL["image_size"], "dim_mult": SMALL["dim_mult"]}
    infer, inf = infer_png_folder(bundle, data, work, inf_overrides)
    result.update(infer)

    # the label-map rule (docs/methods/msmo.md, "Evaluation"): each pixel gets the object with the highest probability
    # among those above 0.5, background otherwise; the DICOM writer gets each object's own mask (probability > 0.5),
    # overlaps kept; both applied with the inference config's own post-processing steps
    post = inf.parser.get_parsed_content("postprocessing").transforms
    sample = {"pred": torch.tensor([[[0.6, 0.2, 0.5]], [[0.7, 0.4, 0.1]], [[0.1, 0.3, 0.2]]])}  # (objects 3, 1, 3 px)
    for t in post:
        if type(t).__name__ in ("Lambdad", "AsDiscreted"):
            sample = t(sample)
    result["label_map"] = sample["pred"].flatten().tolist()
    result["object_masks"] = sample["pred_masks"].flatten(1).tolist()
    writer = inf.parser.get_parsed_content("dicom_writer")
    result["writer"] = {"pred_key": writer.pred_key, "overlapping": writer.overlapping}

    # offline bundle checks (verify_metadata, verify_net_in_out, ckpt_export to TorchScript)
    result["checks"] = check_bundle(bundle, ckpt_file=str(work / "models" / "model.pt"), dim_mult=SMALL["dim_mult"],
                                    decoder=decoder, export_override={"task": task})
    Path(result_file).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
