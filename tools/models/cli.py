"""``edgecascade models ...``: train, calibrate, evaluate, export-c, registry.

Imports of TensorFlow, tflite-micro and matplotlib happen inside the commands so
that ``edgecascade --help`` works on a gateway without the ``train`` extra.
"""

from __future__ import annotations

import argparse
from typing import Any


def _train(args: argparse.Namespace) -> int:
    from .export_c import write as write_c
    from .registry_build import build_registry
    from .train import TRAIN_SEED, train_all

    train_all(tuple(args.tier) if args.tier else ("mcu", "edge", "cloud"),
              seed=args.seed if args.seed is not None else TRAIN_SEED)
    build_registry()
    write_c()
    print("next: edgecascade models calibrate && edgecascade models evaluate")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate, format_report, recalibrate_workload, temperatures_ok
    from .search import Objective

    if args.within is not None:
        objective = Objective("within", args.within, args.max_leave_device)
    else:
        objective = Objective("max_cloud_share", args.max_cloud_share, args.max_leave_device)
    if args.from_audit is not None:
        from pathlib import Path

        from edgecascade.models.errors import ModelError

        from .from_audit import calibrate_from_audit

        try:
            calibrate_from_audit(args.from_audit, objective, workload=args.workload or "mnist",
                                 out=Path(args.out) if args.out else None)
        except ModelError as exc:
            print(f"edgecascade models calibrate --from-audit: {exc}")
            return 2
        return 0
    doc = (calibrate(objective) if args.workload in (None, "mnist") else
           recalibrate_workload(args.workload, objective))
    print(format_report(doc))
    if not temperatures_ok(doc):
        print("note: temperature scaling did not halve ECE on every tier (see noise floor)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from edgecascade.models.errors import ModelError

    from .evaluate import run

    try:
        doc = run(workload=args.workload)
    except ModelError as exc:
        print(f"edgecascade models evaluate: {exc}")
        return 2
    return 0 if (not args.strict or all(doc["targets"].values())) else 1


def _synthetic(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .synthetic import build

    build(Path(args.out))
    print(f"next: edgecascade models evaluate --workload {args.out}")
    return 0


def _export_c(args: argparse.Namespace) -> int:
    from .export_c import write

    write()
    return 0


def _registry(args: argparse.Namespace) -> int:
    from .registry_build import build_registry

    build_registry()
    return 0


def _onnx(args: argparse.Namespace) -> int:
    from .onnx_registry import main

    return main(args.workload, convert=not args.keep)


def _import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgecascade.models.errors import ModelError

    from .importer import ImportRequest, ModelImportError, run_import
    from .search import Objective

    req = ImportRequest(
        name=args.name, mcu=Path(args.mcu), edge=Path(args.edge), cloud=Path(args.cloud),
        calib=Path(args.data), out=Path(args.out or args.name),
        test=Path(args.test) if args.test else None,
        labels=Path(args.labels) if args.labels else None, layout=args.layout or "",
        complexity=args.complexity,
        objective=Objective("max_cloud_share", args.max_cloud_share, args.max_leave_device),
        allow_weaker_cloud=args.allow_weaker_cloud)
    try:
        run_import(req)
    except ModelImportError as exc:  # every problem, each naming its file, on one line
        print(f"edgecascade models import: {'; '.join(exc.problems)}")
        return 2
    except (ModelError, ValueError, OSError) as exc:
        print(f"edgecascade models import: {exc}")
        return 2
    return 0


def add_parser(subparsers: Any) -> None:
    models = subparsers.add_parser(
        "models", help="train, calibrate, evaluate and export the model tiers",
        description="Rebuild the three model tiers and what is generated from them: "
        "train (needs the 'train' extra), calibrate the thresholds, evaluate on the test "
        "split, export the firmware's C array, rebuild the registry.",
    )
    sub = models.add_subparsers(dest="models_command", metavar="<action>", required=True)

    help_ = "train the tiers (needs the 'train' extra), then rebuild the registry and the C array"
    p = sub.add_parser("train", help=help_, description=help_ + ".")
    p.add_argument("--tier", action="append", choices=["mcu", "edge", "cloud"],
                   help="train only this tier (repeatable); default all")
    p.add_argument("--seed", type=int, default=None,
                   help="training seed (default: the one the shipped models used)")
    p.set_defaults(func=_train)

    help_ = ("fit temperatures and choose cascade thresholds; writes models/thresholds.json "
             "and ec_settings.h")
    p = sub.add_parser("calibrate", help=help_, description=help_ + ".")
    goal = p.add_mutually_exclusive_group()
    goal.add_argument("--max-cloud-share", type=float, default=0.08, metavar="X",
                      help="maximise accuracy with at most X of frames reaching the cloud "
                           "(default 0.08: headroom under the 10%% target)")
    goal.add_argument("--within", type=float, default=None, metavar="E",
                      help="stay within E (fraction, e.g. 0.002) of cloud-only accuracy, "
                           "minimise the cloud share")
    p.add_argument("--max-leave-device", type=float, default=0.4, metavar="X",
                   help="at most X of frames leave the device (default 0.4)")
    p.add_argument("--workload", default=None, metavar="NAME|DIR",
                   help="recalibrate another workload (har, or an imported folder) in place")
    p.add_argument("--from-audit", default=None, metavar="STATE_DIR",
                   help="refit the thresholds on a gateway's audit sample (its state_dir; "
                        "the cloud model's answers as labels), print the expected accuracy "
                        "and cloud share before and after, write a thresholds file (--out)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="with --from-audit: where to write (default "
                        "STATE_DIR/thresholds-from-audit.json)")
    p.set_defaults(func=_calibrate)

    help_ = "every tier and the cascade on the test split; writes models/evaluation.json and .png"
    p = sub.add_parser("evaluate", help=help_, description=help_ + ".")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--workload", default="mnist", metavar="NAME|DIR",
                   help="a bundled workload (mnist, har) or an imported workload's folder; "
                        "writes its evaluation.json (default mnist)")
    p.set_defaults(func=_evaluate)

    help_ = ("build the deterministic synthetic workload whose tiers differ (numpy-trained, "
             "no TensorFlow) and import it")
    p = sub.add_parser("synthetic", help=help_, description=help_ + ".")
    p.add_argument("--out", required=True, help="workload folder to write")
    p.set_defaults(func=_synthetic)

    help_ = "write firmware/generated/mcu_model_data.{h,c} and ec_limits.h"
    p = sub.add_parser("export-c", help=help_, description=help_ + ".")
    p.set_defaults(func=_export_c)

    help_ = ("bring your own three tiers: check, register, calibrate, evaluate and export "
             "them as a workload")
    p = sub.add_parser("import", help=help_, description=help_ + " (models/README.md walks "
                       "through it).")
    p.add_argument("--mcu", required=True, help="int8 .tflite for the device (tflite-micro)")
    p.add_argument("--edge", required=True, help=".tflite or .onnx for the gateway")
    p.add_argument("--cloud", required=True, help=".tflite or .onnx for the cloud workers")
    p.add_argument("--data", required=True,
                   help="calibration .npz: images (N, ...) 8-bit, labels (N,), optional "
                        "scale, zero_point, groups, label_names")
    p.add_argument("--test", default=None, help="test .npz (same keys): writes evaluation.json")
    p.add_argument("--labels", default=None, help="text file, one class name a line")
    p.add_argument("--name", default="custom", help="workload name (model ids <name>-<tier>)")
    p.add_argument("--out", default=None, help="workload folder to write (default: the name)")
    p.add_argument("--layout", default=None, choices=["image", "series", "vector", "tensor"],
                   help="input layout (default from the rank: 3 image, 2 series)")
    p.add_argument("--complexity", default="mean_abs_distance",
                   choices=["mean_abs_distance", "off"],
                   help="the device's complexity signal (default: distance from the "
                        "calibration mean input)")
    p.add_argument("--max-cloud-share", type=float, default=0.08, metavar="X")
    p.add_argument("--max-leave-device", type=float, default=0.4, metavar="X")
    p.add_argument("--allow-weaker-cloud", action="store_true",
                   help="import even when the cloud tier is less accurate than the edge tier "
                        "on the calibration data (refused by default: swapped files?)")
    p.set_defaults(func=_import)

    help_ = ("write the edge and cloud tiers as ONNX (for onnxruntime, TensorRT, torch) and "
             "register them with their parity against the TFLite files")
    p = sub.add_parser("onnx", help=help_, description=help_ + " (top-1 agreement and the "
                       "largest probability difference on the test split).")
    p.add_argument("--workload", default="mnist",
                   help="mnist, har, or a workload folder `models import` wrote")
    p.add_argument("--keep", action="store_true",
                   help="register the .onnx files already there (e.g. exported by `models "
                        "train` from the float source) instead of converting the .tflite")
    p.set_defaults(func=_onnx)

    help_ = "rebuild models/registry.json from the model files"
    p = sub.add_parser("registry", help=help_, description=help_ + ".")
    p.set_defaults(func=_registry)

    from .deploy import add_parser as add_deploy  # models deploy (OTA, tools/models/deploy.py)

    add_deploy(sub)
