# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Train, evaluate, infer and check one bundle at tiny size; run by tests/bundles/test_bundles.py in a subprocess
(one bundle per process: every bundle may bring its own `scripts` package, docs/methods/bundles.md, "The scripts
package").

Usage: python bundle_worker.py BUNDLE_DIR WORK_DIR TASK TRACKING_URI RESULT_JSON [EXTRA_OVERRIDES_JSON]

EXTRA_OVERRIDES_JSON (optional): a JSON dict of config overrides applied on top of SMALL to every workflow (train,
evaluate, inference) and to the network of the offline checks, e.g. '{"dim_mult": 1}' for the MGCC bundle.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SMALL = {
    "image_size": [64, 64],
    "features": [4, 8, 16, 32, 64],
    "labeled_batch_size": 2,
    "unlabeled_batch_size": 2,
    "max_iterations": 6,
    "val_interval": 3,
    "checkpoint_interval": 3,
    "num_workers": 0,
    "split#labeled": 0.25,
}


def main() -> None:
    from monai_ext.bundle_checks import check_bundle

    bundle, work, task, tracking_uri, result_file = sys.argv[1:6]
    extra = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
    bundle, work = Path(bundle).resolve(), Path(work).resolve()
    train_cfg = json.loads((bundle / "configs" / "train.json").read_text())
    small = {k: v for k, v in SMALL.items() if k != "unlabeled_batch_size" or "unlabeled_batch_size" in train_cfg}
    data, common = phantom_overrides(bundle, work, task, small, extra)
    configs = bundle / "configs"
    result: dict = {}

    train = start_tracked_training(configs, tracking_uri, bundle.name, common)
    result["train_properties"] = train.check_properties()
    train.run()
    trainer = train.parser.get_parsed_content("train#trainer")
    result["train_iterations"] = trainer.state.iteration
    result["best_val_dice"] = trainer.state.best_metric if hasattr(trainer.state, "best_metric") else None
    evaluator = train.parser.get_parsed_content("validate#evaluator")
    result["val_metrics"] = {k: float(v) for k, v in evaluator.state.metrics.items()}
    train.finalize()
    result["checkpoints"] = sorted(str(p.relative_to(work)) for p in (work / "models").rglob("*.pt"))

    result.update(read_tracked_run(tracking_uri, bundle.name, ("method", "task", "labeled_fraction")))
    result["tracking_uri"] = tracking_uri
    result.update(evaluate_test_split(configs, work, tracking_uri, bundle.name, common))
    inf_overrides = {"task": task, "image_size": [64, 64], "features": SMALL["features"],
                     **{k: v for k, v in extra.items() if k not in ("output_dir", "bundle_root", "dataset_dir")}}
    result.update(infer_png_folder(bundle, data, work, inf_overrides)[0])

    if bundle.name == "meanteacher_us_segmentation":
        result["clip_inference"] = clip_inference(bundle, work, task)

    # offline bundle checks (verify_metadata, verify_net_in_out, ckpt_export)
    net_extra = {k: v for k, v in extra.items() if k not in ("output_dir", "bundle_root", "dataset_dir")}
    checks = check_bundle(bundle, ckpt_file=str(work / "models" / "model.pt"),
                          **{"features": SMALL["features"], **net_extra}, export_override={"task": task})
    result["checks"] = checks
    Path(result_file).write_text(json.dumps(result, indent=2, default=str))


def phantom_overrides(
    bundle: Path, work: Path, task: str, small: dict, extra: dict | None = None
) -> tuple[Path, dict]:
    """Write a 24-image 64 px phantom dataset under ``work``; return it and the overrides every workflow shares
    (``small``, then the data and output locations, then ``extra`` over all of them)."""
    from monai_ext.data import write_phantom_dataset

    data = write_phantom_dataset(work / "data", task=task, num=24, size=64, seed=3, progress=False)
    common = dict(small, bundle_root=str(bundle), dataset_dir=str(data), task=task, ckpt_dir=str(work / "models"),
                  # an expression, not a literal path: MONAI 1.6.1 builds the executed-config artifact path by
                  # appending "+ '/config_<time>.json'" to the output_dir text, which only works for expressions
                  output_dir=f"$'{work / 'eval'}'")
    common.update(extra or {})
    return data, common


def start_tracked_training(configs: Path, tracking_uri: str, bundle_name: str, common: dict):
    """The bundle's train workflow, tracked in MLflow (experiment ``test_<bundle>``), initialised and not yet run."""
    from monai.bundle import ConfigWorkflow

    train = ConfigWorkflow(config_file=str(configs / "train.json"), meta_file=str(configs / "metadata.json"),
                           logging_file=str(configs / "logging.conf"), workflow_type="train", tracking="mlflow",
                           tracking_uri=tracking_uri, experiment_name=f"test_{bundle_name}", **common)
    train.initialize()
    return train


def read_tracked_run(tracking_uri: str, bundle_name: str, param_keys: tuple) -> dict:
    """Read the training run of experiment ``test_<bundle_name>`` back from the MLflow store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(f"test_{bundle_name}")
    run = client.search_runs([experiment.experiment_id])[0]
    return {
        "mlflow_metrics": sorted(run.data.metrics),
        "mlflow_params": {k: run.data.params[k] for k in param_keys if k in run.data.params},
        "mlflow_all_params": dict(run.data.params),
        "mlflow_artifacts": [a.path for a in client.list_artifacts(run.info.run_id)],
        "mlflow_history_train_loss": len(client.get_metric_history(run.info.run_id, "train_loss")),
    }


def evaluate_test_split(configs: Path, work: Path, tracking_uri: str, bundle_name: str, common: dict) -> dict:
    """Run evaluate.json (tracked) on the test split; report its MLflow run, summary keys and per-image CSV rows."""
    from mlflow.tracking import MlflowClient
    from monai.bundle import ConfigWorkflow

    ev = ConfigWorkflow(config_file=[str(configs / "train.json"), str(configs / "evaluate.json")],
                        meta_file=str(configs / "metadata.json"), logging_file=str(configs / "logging.conf"),
                        workflow_type="train", tracking="mlflow", tracking_uri=tracking_uri,
                        experiment_name=f"test_{bundle_name}", **common)
    ev.initialize()
    ev.run()
    ev.finalize()
    client = MlflowClient(tracking_uri=tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(f"test_{bundle_name}").experiment_id])
    evaluation = [r for r in runs if "test_mean_dice" in r.data.metrics]
    summary = json.loads((work / "eval" / "test_metrics_summary.json").read_text())
    return {
        "eval_run_status": [r.info.status for r in evaluation],
        "eval_run_metrics": sorted(evaluation[0].data.metrics) if evaluation else [],
        "test_summary_keys": sorted(summary),
        "test_csv_rows": len((work / "eval" / "test_metrics_per_image.csv").read_text().splitlines()) - 1,
    }


def infer_png_folder(bundle: Path, data: Path, work: Path, overrides: dict):
    """inference.json on three phantom images resized to 80x72 (not the network grid), with the trained model.pt.

    Returns the result entries (properties, mask shapes, mask values) and the inference workflow.
    """
    from monai.bundle import ConfigWorkflow

    inputs = work / "infer_in"
    inputs.mkdir()
    for src in sorted((data / "images").glob("*.png"))[:3]:
        Image.open(src).resize((80, 72)).save(inputs / src.name)
    configs = bundle / "configs"
    inf = ConfigWorkflow(config_file=str(configs / "inference.json"), meta_file=str(configs / "metadata.json"),
                         logging_file=str(configs / "logging.conf"), workflow_type="infer", bundle_root=str(bundle),
                         dataset_dir=str(inputs), output_dir=str(work / "infer_out"),
                         **{"checkpointloader#load_path": str(work / "models" / "model.pt"), **overrides})
    inf.initialize()
    result = {"infer_properties": inf.check_properties()}
    inf.run()
    inf.finalize()
    masks = sorted((work / "infer_out").glob("*.png"))
    result["infer_masks"] = [list(np.asarray(Image.open(m)).shape) for m in masks]
    result["infer_values"] = sorted({int(v) for m in masks for v in np.unique(np.asarray(Image.open(m)))})
    return result, inf

def clip_inference(bundle: Path, work: Path, task: str) -> dict:
    """Inference on a DICOM clip (6 frames, 96 px phantom) with the trained checkpoint: SR, key-frame SEG, PNGs."""
    import pydicom

    from monai_ext.inference import run_bundle_inference
    from monai_ext.io import write_phantom_clip

    frames = 6
    clip, _ = write_phantom_clip(work / "clip_in" / "clip.dcm", frames=frames, size=96, seed=5)
    out = work / "clip_out"
    written = run_bundle_inference(bundle, [clip.parent], out, overrides={
        "task": task, "image_size": [64, 64], "features": SMALL["features"],
        "checkpointloader#load_path": str(work / "models" / "model.pt")})
    names = [p.name for p in written]
    assert names[0] == "clip_sr.dcm" and any(n.endswith("_seg.dcm") for n in names), names
    uid = pydicom.dcmread(clip, stop_before_pixels=True).SOPInstanceUID
    sr = pydicom.dcmread(out / "clip_sr.dcm")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert evidence.ReferencedSOPInstanceUID == uid

    def referenced(ds) -> tuple[set, int]:
        """Frames of the clip named anywhere in the content tree, and the number of contours."""
        found, contours = set(), 0
        for item in ds.get("ContentSequence", []):
            contours += int(item.get("GraphicType", "") == "POLYLINE")
            for ref in item.get("ReferencedSOPSequence", []):
                if ref.ReferencedSOPInstanceUID == uid and "ReferencedFrameNumber" in ref:
                    found.update(int(f) for f in np.atleast_1d(np.asarray(ref.ReferencedFrameNumber, dtype=int)))
            sub_found, sub_contours = referenced(item)
            found, contours = found | sub_found, contours + sub_contours
        return found, contours

    found, contours = referenced(sr)
    # every frame is covered by its contours (or, for a structure never predicted, by the "absent" group)
    assert found == set(range(1, frames + 1)), found
    shapes = {p.name: list(np.asarray(Image.open(p)).shape) for p in sorted(out.glob("*.png"))}
    assert shapes == {f"clip_f{i:04d}_mask.png": [96 + 96 // 8, 96] for i in range(frames)}, shapes
    return {"written": names, "frames": sorted(found), "contours": contours, "png_masks": len(shapes)}


if __name__ == "__main__":
    main()
