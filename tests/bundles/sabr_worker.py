# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Run the SABR-Net bundle's four training stages, evaluation, inference (PNG folder and DICOM clip) and the offline
bundle checks at tiny size in one process, each stage tracked in MLflow (sqlite); run by test_bundle_sabr.py in a
subprocess. Stage configs are loaded the way ``python -m monai.bundle run`` loads them (``ConfigWorkflow``).

Usage: python sabr_worker.py BUNDLE_DIR WORK_DIR TASK TRACKING_URI RESULT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bundle_worker import evaluate_test_split, infer_png_folder, phantom_overrides

__all__ = ["NETWORK", "TINY", "main"]

#: the widths of every network (what inference and the bundle checks need too)
NETWORK = {
    "dim": 8,
    "num_heads": 2,
    "depths": [1, 1, 1, 1, 1],
    "decoder_channels": 8,
    "head_channels": 8,
}
#: one overlay for every stage (top-level ids only, as configs/quick.json)
TINY = {
    **NETWORK,
    "image_size": [64, 64],
    "z_dim": 16,
    "w_dim": 16,
    "mapping_layers": 2,
    "d_img_channel_base": 256,
    "d_img_channel_max": 16,
    "d_seg_base_channels": 4,
    "d_seg_max_channels": 16,
    "labeled_batch_size": 2,
    "unlabeled_batch_size": 2,
    "warmup_iterations": 2,
    "pretrain_iterations": 4,
    "pretrain_val_interval": 2,
    "finetune_iterations": 2,
    "finetune_val_interval": 2,
    "max_iterations": 4,
    "val_interval": 2,
    "checkpoint_interval": 2,
    "d_reg_every": 2,
    "path_length_interval": 2,
    "num_workers": 0,
    "split#labeled": 0.25,
}
STAGES = ("warmup", "pretrain", "finetune", "train")


def run_stage(configs: Path, stage: str, tracking_uri: str, experiment: str, common: dict) -> dict:
    """One stage config, tracked; its properties check, iterations, validation metrics and seconds."""
    from monai.bundle import ConfigWorkflow

    t0 = time.perf_counter()
    wf = ConfigWorkflow(config_file=str(configs / f"{stage}.json"), meta_file=str(configs / "metadata.json"),
                        logging_file=str(configs / "logging.conf"), workflow_type="train", tracking="mlflow",
                        tracking_uri=tracking_uri, experiment_name=experiment, **common)
    wf.initialize()
    info: dict = {"properties": wf.check_properties()}
    wf.run()
    trainer = wf.parser.get_parsed_content("train#trainer")
    info["iterations"] = trainer.state.iteration
    info["train_metrics"] = sorted(trainer.state.metrics)
    if "validate" in wf.parser.config:
        evaluator = wf.parser.get_parsed_content("validate#evaluator")
        info["val_metrics"] = {k: float(v) for k, v in evaluator.state.metrics.items()}
    wf.finalize()
    info["seconds"] = round(time.perf_counter() - t0, 1)
    return info


def main() -> None:
    from monai_ext.bundle_checks import check_bundle
    from monai_ext.inference import run_bundle_inference
    from monai_ext.io import write_phantom_clip

    bundle, work, task, tracking_uri, result_file = sys.argv[1:6]
    bundle, work = Path(bundle).resolve(), Path(work).resolve()
    data, common = phantom_overrides(bundle, work, task, TINY)
    configs = bundle / "configs"
    result: dict = {"stages": {}}
    for stage in STAGES:
        experiment = "test_sabr_us_segmentation" if stage == "train" else f"test_sabr_{stage}"
        info = run_stage(configs, stage, tracking_uri, experiment, common)
        info.update(_tracked(tracking_uri, experiment))
        result["stages"][stage] = info
    result["checkpoints"] = sorted(str(p.relative_to(work)) for p in (work / "models").rglob("*.pt"))
    result.update(evaluate_test_split(configs, work, tracking_uri, "sabr_us_segmentation", common))

    inference = {"task": task, "image_size": [64, 64], **NETWORK}
    result.update(infer_png_folder(bundle, data, work, inference)[0])
    clip, _ = write_phantom_clip(work / "clip_in" / "clip.dcm", frames=4, size=96, seed=5)
    written = run_bundle_inference(bundle, [clip.parent], work / "clip_out", overrides={
        **inference, "checkpointloader#load_path": str(work / "models" / "model.pt")})
    result["clip_written"] = [p.name for p in written]
    result["clip_masks"] = sorted(p.name for p in (work / "clip_out").glob("*.png"))

    # model C is not TorchScript-scriptable (the StyleGAN2 ops raise formatted errors): export it by tracing
    export = {"task": task, "use_trace": True, "input_shape": [1, 3, 256, 256]}
    result["checks"] = check_bundle(bundle, ckpt_file=str(work / "models" / "model.pt"), export_override=export,
                                    **NETWORK)
    Path(result_file).write_text(json.dumps(result, indent=2, default=str))


def _tracked(tracking_uri: str, experiment: str) -> dict:
    """The metrics and parameters of the stage's MLflow run (the experiment's newest run)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id], order_by=["start_time DESC"])
    run = runs[0]
    return {"mlflow_status": run.info.status, "mlflow_metrics": sorted(run.data.metrics),
            "mlflow_params": dict(run.data.params),
            "mlflow_history_train_loss": len(client.get_metric_history(run.info.run_id, "train_loss"))}


if __name__ == "__main__":
    main()
