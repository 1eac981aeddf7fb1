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
"""Command line of monai_ext: `python -m monai_ext <command> ...`.

Commands import their implementation lazily so that `--help` stays fast (`import monai` costs seconds).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["BACKEND_CHOICES", "build_parser", "main"]

BACKEND_CHOICES = ("torch", "onnxruntime", "openvino")
"""``--backend`` values (``monai_ext.deploy.BACKENDS``, repeated here so that ``--help`` imports nothing)."""


def _cmd_phantom(args: argparse.Namespace) -> int:
    from monai_ext.data.phantom import write_phantom_dataset

    path = write_phantom_dataset(
        args.out, task=args.task, num=args.num, size=args.size, seed=args.seed, progress=not args.quiet
    )
    print(f"wrote {args.num} {args.task} phantom images to {path}")
    return 0


def _label_table(text: str | None) -> dict | None:
    """The --labels JSON ({"lv": [1], "myocardium": [2]}), checked; None when not given."""
    if text is None:
        return None
    import json

    from monai_ext.transforms.masks import normalize_label_table

    try:
        table = json.loads(text)
    except ValueError as e:
        raise ValueError(f"--labels must be JSON such as '{{\"lv\": [1], \"la\": [3]}}', got {text!r} ({e}).") from None
    try:
        normalize_label_table(table)
    except (TypeError, ValueError) as e:
        raise ValueError(f"--labels {text!r}: {e}.") from None
    return table


def _cmd_split(args: argparse.Namespace) -> int:
    from monai_ext.data.splits import import_txt_split, make_split_file

    labels = _label_table(args.labels)
    if args.import_train is not None:
        out = import_txt_split(
            args.dataset,
            train_txt=args.import_train,
            val_txt=args.import_val,
            out=args.out,
            labeled=args.labeled,
            seed=args.seed,
            layout=args.layout,
            labels=labels,
        )
    else:
        out = make_split_file(
            args.dataset,
            out=args.out,
            val=args.val,
            test=args.test,
            labeled=args.labeled,
            seed=args.seed,
            group_by=args.group_by,
            layout=args.layout,
            labels=labels,
        )
    print(f"split file: {out}")
    return 0


def _cmd_phantom_clip(args: argparse.Namespace) -> int:
    from monai_ext.io import write_phantom_clip

    path, masks = write_phantom_clip(
        args.out, task=args.task, frames=args.frames, size=args.size, seed=args.seed, jpeg=args.jpeg
    )
    print(f"wrote {masks.shape[0]} frames to {path} (ground truth: {path.with_name(path.stem + '_masks.npz')})")
    return 0


def _cmd_check_bundle(args: argparse.Namespace) -> int:
    from monai_ext.bundle_checks import check_bundle

    for bundle in args.bundles:
        for name, result in check_bundle(bundle, ckpt_file=args.ckpt_file).items():
            print(f"{bundle}: {name}: {result}")
    return 0


def _cmd_sync_bundles(args: argparse.Namespace) -> int:
    from monai_ext.bundle_sync import sync_bundles

    return sync_bundles(args.bundles_dir, check=args.check)


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from monai_ext.deploy import export_bundle_onnx

    r = export_bundle_onnx(
        args.bundle,
        filepath=args.out,
        ckpt_file=args.ckpt_file,
        overrides=_key_values(args.override, "--override", parse_json=True),
        overwrite=args.overwrite,
    )
    batch = "dynamic batch" if r["dynamic_batch"] else "fixed batch"
    print(f"exported {r['filepath']} (input {r['input_shape']}, {batch})")
    print(f"ONNX Runtime vs torch: max abs difference {r['max_abs_diff']:.3g}, relative {r['max_rel_diff']:.3g}")
    return 0


def _cmd_quantize(args: argparse.Namespace) -> int:
    from monai_ext.deploy import USOnnxRuntimeInferer, quantize_bundle, segmentation_agreement

    overrides = _key_values(args.override, "--override", parse_json=True)
    r = quantize_bundle(
        args.bundle,
        args.split,
        out=args.out,
        fp32_model=args.model,
        max_images=args.max_images,
        seed=args.seed,
        overrides=overrides,
        dataset_dir=args.dataset_dir,
        reduce_range=args.reduce_range,
        overwrite=args.overwrite,
    )
    print(f"wrote {r['model']}, calibrated on {r['images']} training images of {args.split} (record: {r['record']})")
    if args.no_check:
        return 0
    fp32 = args.model or str(Path(args.bundle) / "models" / "model.onnx")
    runners = {"fp32": USOnnxRuntimeInferer(fp32), "int8": USOnnxRuntimeInferer(r["model"])}
    a = segmentation_agreement(
        args.bundle, runners, args.split, reference="fp32", overrides=overrides, dataset_dir=args.dataset_dir
    )
    print(f"test split ({a['int8']['images']} images): structure, Dice fp32, Dice int8, Dice int8 vs fp32 masks")
    for name, agreement in a["int8"]["agreement"].items():
        print(f"  {name}: {a['fp32']['dice'][name]:.4f} {a['int8']['dice'][name]:.4f} {agreement:.4f}")
    worst = min(a["int8"]["agreement"].values())
    drop = a["fp32"]["mean_dice"] - a["int8"]["mean_dice"]
    ok = worst >= args.min_agreement and drop <= args.max_dice_drop
    print(
        f"{'accepted' if ok else 'NOT accepted'}: lowest agreement {worst:.4f} (at least {args.min_agreement}), "
        f"mean Dice drop {drop:+.4f} (at most {args.max_dice_drop})"
    )
    return 0 if ok else 1


def _key_values(items: Sequence[str] | None, option: str, parse_json: bool) -> dict:
    out = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(f"{option} expects KEY=VALUE, got {item!r}.")
        if parse_json:
            import json

            try:  # numbers, lists, booleans as JSON; anything else is a string
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


def _byte_size(text: str) -> int:
    """A byte count such as ``1073741824``, ``512M`` or ``4GiB`` (K, M, G, T are powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*(?:([KMGT])(?:I?B)?|B)?\s*", text, flags=re.IGNORECASE)
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive byte count such as 512M or 2G, got {text!r}")
    scale = 1024 ** (" KMGT".index(match.group(2).upper()) if match.group(2) else 0)
    return int(match.group(1)) * scale


def _serve_overrides(args: argparse.Namespace) -> dict:
    overrides = _key_values(args.override, "--override", parse_json=True)
    if args.backend:
        overrides["backend"] = args.backend
    return overrides


def _cmd_serve_dicomweb(args: argparse.Namespace) -> int:
    import logging

    from monai_ext.services import (
        USRetryPolicy,
        USSecretRedactor,
        build_dicomweb_auth,
        serve_dicomweb,
        split_url_credentials,
    )

    _, user, password = split_url_credentials(args.url)
    if user is not None or password is not None:
        shown = USSecretRedactor().redact(args.url)
        raise ValueError(
            f"--url {shown!r} holds credentials: command lines are visible to other users (ps) and kept in shell "
            f"histories. Give --username {user or 'USER'} and the password with --password-env VAR or "
            "--password-file FILE instead."
        )
    auth = build_dicomweb_auth(
        args.auth,
        username=args.username,
        password_env=args.password_env,
        password_file=args.password_file,
        token_env=args.token_env,
        token_file=args.token_file,
    )
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor = USSecretRedactor(auth.secrets if auth is not None else ())
    for handler in logging.getLogger().handlers:  # also records of other libraries, whatever they print
        handler.addFilter(redactor)
    summary = serve_dicomweb(
        args.bundle,
        args.url,
        state_file=args.state,
        poll_interval=args.poll_interval,
        once=args.once,
        max_attempts=args.max_attempts,
        study_filters=_key_values(args.filter, "--filter", parse_json=False),
        overrides=_serve_overrides(args),
        work_dir=args.work_dir,
        settle_seconds=args.settle_seconds,
        max_study_bytes=args.max_study_bytes,
        retry=USRetryPolicy(max_retries=args.max_retries),
        timeout=(10.0, args.timeout),
        deadline=args.request_deadline,
        auth=auth,
        ca_bundle=args.ca_bundle,
        max_instance_bytes=args.max_instance_bytes,
        max_json_bytes=args.max_json_bytes,
    )
    if args.once:
        print(
            f"{summary.found} US studies: {len(summary.processed)} processed, {len(summary.skipped)} skipped, "
            f"{len(summary.failed)} failed, {len(summary.stored)} instances stored"
            + (", PACS unavailable" if summary.pacs_unavailable else "")
            + (", study search failed" if summary.search_failed else "")
            + (f", {len(summary.waiting)} still receiving instances" if summary.waiting else "")
        )
        return 0 if summary.ok else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one sub-command per task."""
    parser = argparse.ArgumentParser(
        prog="python -m monai_ext",
        description="Semi-supervised ultrasound segmentation toolkit on MONAI: data, splits and bundle tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "phantom",
        help="write a synthetic B-mode ultrasound dataset (images/ + masks/ + dataset.json)",
        description="Write a synthetic B-mode ultrasound phantom dataset: speckle, attenuation, shadows, "
        "sector or linear field of view; breast (BUSI-like), cardiac (CAMUS-like, 3 structures) or thyroid.",
    )
    p.add_argument("--task", choices=["breast", "cardiac", "thyroid"], default="breast", help="anatomy to simulate")
    p.add_argument("--num", type=int, default=200, help="number of images (default 200)")
    p.add_argument("--size", type=int, default=256, help="image height and width in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_phantom)

    p = sub.add_parser(
        "split",
        help="write a train/validation/test split file with nested labelled subsets",
        description="Write a MONAI decathlon-style JSON datalist ('training' items carry 'labeled', plus "
        "'validation' and 'test') for a dataset folder. An existing split file is reused, never re-drawn.",
    )
    p.add_argument("dataset", help="dataset folder (phantom, BUSI, images/+masks/ or images/+masks/0/)")
    p.add_argument(
        "--out",
        default=None,
        help="split file to write (default DATASET/splits/split_s<SEED>_v<VAL>_t<TEST>_l<LABELED>.json)",
    )
    p.add_argument("--val", type=float, default=0.1, help="validation fraction of groups (default 0.1)")
    p.add_argument("--test", type=float, default=0.2, help="test fraction of groups (default 0.2)")
    p.add_argument("--labeled", type=float, default=0.125, help="labelled fraction of the training pool")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--group-by", default=None, help="regex whose first group (or whole match) is the patient id")
    p.add_argument("--layout", default="auto", help="dataset layout (default: detect)")
    p.add_argument(
        "--labels",
        default=None,
        metavar="JSON",
        help='label table: structure -> mask gray values in label order, e.g. \'{"lv": [1], "myocardium": [2], '
        '"la": [3]}\' (default: dataset.json "labels", else {"foreground": [255]})',
    )
    p.add_argument("--import-train", default=None, help="import a legacy <name>_train1.txt id list instead")
    p.add_argument("--import-val", default=None, help="the matching legacy <name>_val1.txt id list")
    p.set_defaults(func=_cmd_split)

    p = sub.add_parser(
        "phantom-clip",
        help="write a beating-heart phantom as a US Multi-frame DICOM clip with its ground-truth masks",
        description="Write a valid US Multi-frame Image Storage DICOM (regions sequence with spacing, frame time) "
        "of a beating phantom heart, plus <stem>_masks.npz with the per-frame masks.",
    )
    p.add_argument("--task", choices=["cardiac"], default="cardiac", help="phantom anatomy (cardiac only)")
    p.add_argument("--frames", type=int, default=60, help="number of frames (default 60)")
    p.add_argument("--size", type=int, default=256, help="width of the image in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--jpeg", action="store_true", help="JPEG Baseline compressed pixel data")
    p.add_argument("--out", required=True, help="output DICOM file")
    p.set_defaults(func=_cmd_phantom_clip)

    p = sub.add_parser(
        "check-bundle",
        help="verify bundles without network: metadata schema, changelog, files, network in/out, TorchScript export "
        "(runs the bundle's inference.json: check only bundles you trust)",
        description="Run MONAI's verify_metadata (with the project's schema), verify_net_in_out and ckpt_export "
        "(when models/model.pt exists) on each bundle folder. No network access, but not a static check: "
        "configs are code. MONAI evaluates every '$' expression of configs/inference.json with Python's eval and "
        "imports and calls every '_target_' it instantiates, so checking a bundle runs its code with your rights. "
        "Check only bundles from a source you trust.",
    )
    p.add_argument("bundles", nargs="+", help="bundle folders (bundles/<name>)")
    p.add_argument("--ckpt-file", default=None, help="checkpoint to export instead of models/model.pt")
    p.set_defaults(func=_cmd_check_bundle)

    p = sub.add_parser(
        "sync-bundles",
        help="write the bundles' shared configs from bundles/_base (base + layers + one overlay per bundle)",
        description="Generate train.json, evaluate.json, inference.json, multi_gpu_train.json, logging.conf and "
        "LICENSE of every bundle that has bundles/_base/overlays/<bundle>.json, merging base, layers and overlay "
        "with MONAI's config merging (see bundles/README.md). With --check nothing is written: exit 1 with a "
        "unified diff for every checked-in file that differs.",
    )
    p.add_argument("--bundles-dir", default="bundles", help="folder with _base/ and the bundles (default ./bundles)")
    p.add_argument("--check", action="store_true", help="compare only; exit 1 when a bundle file is out of date")
    p.set_defaults(func=_cmd_sync_bundles)

    p = sub.add_parser(
        "export-onnx",
        help="export a bundle's inference network to ONNX (dynamic batch) and check it against torch",
        description="Run MONAI's onnx_export with the bundle's configs/onnx_export.json (network_def of "
        "inference.json, at its image_size), then compare ONNX Runtime with torch on random inputs (batches 1 and 2) "
        "and print the largest difference; a difference over 1e-4 of the largest logit is an error.",
    )
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--ckpt-file", default=None, help="checkpoint (default BUNDLE/models/model.pt)")
    p.add_argument("--out", default=None, help="ONNX file to write (default BUNDLE/models/model.onnx)")
    p.add_argument("--override", action="append", metavar="KEY=VALUE", help="inference.json override (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing ONNX file")
    p.set_defaults(func=_cmd_export_onnx)

    p = sub.add_parser(
        "quantize",
        help="int8-quantise an exported bundle network, calibrated on training images of a split file",
        description="Post-training static int8 quantisation with ONNX Runtime (QDQ; int8 per-channel weights, uint8 "
        "activations, min-max ranges), calibrated on at most 100 images of the split's training part run through the "
        "bundle's inference pre-processing. Then, unless --no-check, compares int8 with fp32 on the split's test "
        "part (Dice against the labels, and between the two sets of masks) and exits with 1 when int8 is not "
        "accepted.",
    )
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--split", required=True, help="split file (python -m monai_ext split); only 'training' calibrates")
    p.add_argument("--model", default=None, help="fp32 ONNX model (default BUNDLE/models/model.onnx)")
    p.add_argument("--out", default=None, help="int8 model to write (default BUNDLE/models/model_int8.onnx)")
    p.add_argument("--max-images", type=int, default=100, help="calibration images, at most 100 (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the calibration image draw (default 0)")
    p.add_argument("--dataset-dir", default=None, help="dataset root if the split's dataset_dir is not here")
    p.add_argument("--override", action="append", metavar="KEY=VALUE", help="inference.json override (repeatable)")
    p.add_argument("--reduce-range", action="store_true", help="7-bit weights (CPUs without VNNI)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing int8 model")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with fp32 on the test split")
    p.add_argument("--min-agreement", type=float, default=0.98, help="lowest accepted int8-vs-fp32 mask Dice")
    p.add_argument("--max-dice-drop", type=float, default=0.01, help="largest accepted drop of the mean test Dice")
    p.set_defaults(func=_cmd_quantize)

    p = sub.add_parser(
        "serve-dicomweb",
        help="poll a DICOMweb PACS for ultrasound studies, segment them with a bundle, store SR/SEG back",
        description="Hospital pipeline: QIDO-RS finds US studies, WADO-RS retrieves their instances, the bundle "
        "segments them (SR contours for clips, SEG for single frames) and STOW-RS stores the results in the same "
        "study. Each study is processed once its instance count has settled, and again for instances added later "
        "(sqlite state + detection of existing results); a store counts only when the PACS confirms every instance; "
        "failures are recorded and retried a bounded number of times; requests are retried with exponential "
        "backoff, bounded in size and time, never follow redirects; SIGINT/SIGTERM stop at once. Secrets are read "
        "from environment variables or files, never from the command line.",
    )
    p.add_argument("--bundle", required=True, help="bundle folder (configs/inference.json, models/model.pt)")
    p.add_argument(
        "--url", required=True, help="DICOMweb root, e.g. https://pacs.example.org/dicom-web (no credentials)"
    )
    p.add_argument("--poll-interval", type=float, default=30.0, help="seconds between polls (default 30)")
    p.add_argument(
        "--state",
        default="dicomweb_state.sqlite",
        help="sqlite state file, created mode 600 (default ./dicomweb_state.sqlite)",
    )
    p.add_argument("--once", action="store_true", help="process what is there and exit (exit code 1 on any failure)")
    p.add_argument("--max-attempts", type=int, default=3, help="attempts per study before giving up (default 3)")
    p.add_argument(
        "--max-retries", type=int, default=6, help="retries of one HTTP request, backoff 0.5 s doubling (default 6)"
    )
    p.add_argument(
        "--timeout", type=float, default=300.0, help="HTTP read timeout per socket read, seconds (default 300)"
    )
    p.add_argument(
        "--request-deadline", type=float, default=900.0,
        help="wall-clock seconds one HTTP request may take, answer included (default 900)",
    )
    p.add_argument(
        "--settle-seconds", type=float, default=60.0,
        help="process a study once its instance count has not changed for this long (default 60)",
    )
    p.add_argument("--max-instance-bytes", type=_byte_size, default="1G", help="largest WADO-RS instance (default 1G)")
    p.add_argument(
        "--max-study-bytes", type=_byte_size, default="4G", help="most bytes retrieved per study (default 4G)"
    )
    p.add_argument(
        "--max-json-bytes", type=_byte_size, default="32M", help="largest QIDO-RS / STOW-RS JSON answer (default 32M)"
    )
    auth = p.add_argument_group("authentication and TLS (secrets only from environment variables or files)")
    auth.add_argument(
        "--auth", choices=["none", "basic", "bearer"], default=None,
        help="HTTP authentication (default: basic with --username, bearer with --token-*, else none)",
    )
    auth.add_argument("--username", default=None, help="basic-auth user")
    secret = auth.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="VAR", default=None, help="environment variable holding the password")
    secret.add_argument("--password-file", metavar="FILE", default=None, help="file holding the password (mode 600)")
    token = auth.add_mutually_exclusive_group()
    token.add_argument("--token-env", metavar="VAR", default=None, help="environment variable holding the bearer token")
    token.add_argument("--token-file", metavar="FILE", default=None, help="file holding the bearer token (mode 600)")
    auth.add_argument(
        "--ca-bundle", metavar="PATH", default=None,
        help="PEM file of the CA that signed the PACS's certificate (verification is always on)",
    )
    p.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="extra QIDO-RS study filter, e.g. StudyDate=20260101- (repeatable)",
    )
    p.add_argument(
        "--override",
        action="append",
        metavar="KEY=VALUE",
        help="bundle config override, value parsed as JSON when it can be (repeatable). Operator input only: "
        "configs are code (MONAI evaluates $ expressions and imports any _target_)",
    )
    p.add_argument(
        "--work-dir", default=None, help="existing, writable parent folder of the per-study temporary folders"
    )
    p.add_argument(
        "--backend",
        choices=BACKEND_CHOICES,
        default=None,
        help="inference backend (the bundle's 'backend'; default: the bundle's, torch); onnxruntime and openvino run "
        "models/model.onnx (--override deploy_model=... for another, e.g. models/model_int8.onnx)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level")
    p.set_defaults(func=_cmd_serve_dicomweb)

    from monai_ext.study.commands import add_study_commands

    add_study_commands(sub)  # study, export-nnunet
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as e:
        # Input problems are reported as one clear line, not a traceback; also when MONAI wrapped ours (a bundle
        # check evaluates the config, whose errors end in "RuntimeError: Failed to evaluate ConfigExpression").
        from monai_ext.utils.errors import find_input_error

        found = find_input_error(e)
        if found is None and not isinstance(e, (ValueError, FileNotFoundError, FileExistsError, ImportError)):
            raise
        print(f"error: {found if found is not None else e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
