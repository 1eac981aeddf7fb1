# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Run the three latent-diffusion stages of the MGCC bundle at tiny size in one process, tracked in MLflow;
run by test_ldm_bundle_stages.py in a subprocess (bundle configs are loaded the way `monai.bundle run` loads them).

Usage: python ldm_stages_worker.py BUNDLE_DIR WORK_DIR RESULT_JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

TINY = {
    "phantom#num": 16,
    "phantom#size": 64,
    "split#val": 0.2,
    "split#test": 0.2,
    "image_size": [32, 32],
    "latent_channels": 2,
    "max_epochs": 1,
    "batch_size": 4,
    "checkpoint_interval": 2,
    "latent_stats_batches": 2,
    "num_samples": 3,
    "num_inference_steps": 2,
    "output_size": [48, 48],
    "memorisation#size": 16,
}


def main() -> None:
    from mlflow.tracking import MlflowClient
    from monai.bundle import ConfigWorkflow

    bundle, work, result_file = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), sys.argv[3]
    configs = bundle / "configs"
    quick = str(configs / "quick_ldm.json")
    meta = configs / "metadata.json"
    if not meta.is_file():  # the bundle's metadata is written by another task; the stage checks need only versions
        meta = work / "metadata.json"
        work.mkdir(parents=True, exist_ok=True)
        versions = {"version": "0.0.1", "monai_version": "1.6.1", "pytorch_version": "2", "numpy_version": "1"}
        meta.write_text(json.dumps(versions))
    logging_conf = configs / "logging.conf"
    tracking_uri = f"sqlite:///{work / 'mlruns.db'}"
    common = dict(
        TINY,
        bundle_root=str(work),
        # an expression, not a literal: MONAI 1.6.1 appends "+ '/config_<time>.json'" to the output_dir text
        output_dir=f"$'{work / 'eval'}'",
    )
    result: dict = {"stages": {}}
    for stage, wtype in (("train_autoencoder", "train"), ("train_diffusion", "train"), ("generate", "infer")):
        t0 = time.perf_counter()
        # nested overrides need their parent id in the stage config (e.g. memorisation#size only in generate)
        ids = set(json.loads((configs / f"{stage}.json").read_text())) | set(json.loads(Path(quick).read_text()))
        override = {k: v for k, v in common.items() if k.split("#")[0] in ids}
        wf = ConfigWorkflow(
            config_file=[str(configs / f"{stage}.json"), quick],
            meta_file=str(meta),
            logging_file=str(logging_conf) if logging_conf.is_file() else None,
            workflow_type=wtype,
            tracking="mlflow",
            tracking_uri=tracking_uri,
            experiment_name=f"ldm_{stage}",
            **override,
        )
        wf.initialize()
        props = wf.check_properties()
        wf.run()
        engine = wf.parser.get_parsed_content("evaluator" if wtype == "infer" else "train#trainer")
        info = {"properties": props, "iterations": engine.state.iteration, "seconds": time.perf_counter() - t0}
        if stage == "train_diffusion":
            info["scale_factor"] = engine.state.scale_factor
        if stage == "generate":
            info["manifest"] = engine.state.synthetic_manifest
            info["split_path"] = wf.parser.get_parsed_content("split_path")
            info["data_root"] = wf.parser.get_parsed_content("data_root")
        for key in ("autoencoder_file", "diffusion_file", "latent_stats_file"):
            info[key] = wf.parser.get_parsed_content(key)
        wf.finalize()
        client = MlflowClient(tracking_uri=tracking_uri)
        exp = client.get_experiment_by_name(f"ldm_{stage}")
        runs = client.search_runs([exp.experiment_id]) if exp is not None else []
        info["mlflow_runs"] = len(runs)
        if runs:
            info["mlflow_metrics"] = sorted(runs[0].data.metrics)
            info["mlflow_params"] = {k: runs[0].data.params.get(k) for k in ("stage", "num_images", "num_samples")}
        result["stages"][stage] = info
    Path(result_file).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
