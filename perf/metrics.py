"""Speed of the metrics at full benchmark size, each next to its reference on the same input.

- AVA frame-mAP on a val-sized synthetic input (57,408 keyframes = 64 videos × 897 seconds,
  60 classes, SlowFast-style detections: every class scored for every detected box), both
  conventions, reading the CSVs included. With ``--activitynet-dir`` (a checkout of
  activitynet/ActivityNet) the official ``Evaluation/get_ava_performance.py`` is timed on the
  same files and its mAP compared.
- CIDEr-D on 20,000 predictions × 20 references (synthetic, vocabulary 2,000, 8-15 words):
  vpbench's vectorised implementation next to pycocoevalcap's ``Cider``, checking that the two
  agree to 1e-9. The last line printed is the CIDEr speed ratio.

``--scale 0.05`` runs a small version of both (for a quick check).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NUM_CLASSES_AVA = 60


def make_ava(folder: Path, scale: float, rng: np.random.Generator) -> tuple[Path, Path, Path]:
    import pandas as pd

    num_videos = max(1, round(64 * scale))
    stamps = np.arange(902, 902 + 897)
    class_ids = np.sort(rng.choice(np.arange(1, 81), NUM_CLASSES_AVA, replace=False))
    label_map = folder / "labels.pbtxt"
    label_map.write_text("".join(f'item {{\n  name: "action {c}"\n  id: {c}\n}}\n' for c in class_ids))
    frame_video = np.repeat(np.arange(num_videos), len(stamps))
    frame_stamp = np.tile(stamps, num_videos)
    persons = rng.integers(1, 5, size=len(frame_video))
    person_frame = np.repeat(np.arange(len(frame_video)), persons)
    x1, y1 = rng.uniform(0, 0.6, len(person_frame)), rng.uniform(0, 0.6, len(person_frame))
    boxes = np.stack([x1, y1, x1 + rng.uniform(0.1, 0.4, len(x1)), y1 + rng.uniform(0.2, 0.4, len(y1))], 1).round(3)
    actions_per_person = rng.integers(1, 4, size=len(person_frame))
    gt_person = np.repeat(np.arange(len(person_frame)), actions_per_person)
    gt = pd.DataFrame({
        "video": np.char.add("video", frame_video[person_frame[gt_person]].astype(str)),
        "ts": np.char.zfill(frame_stamp[person_frame[gt_person]].astype(str), 4),
        "x1": boxes[gt_person, 0], "y1": boxes[gt_person, 1], "x2": boxes[gt_person, 2], "y2": boxes[gt_person, 3],
        "action": rng.choice(class_ids, len(gt_person)), "person": gt_person % 4})
    det_person = np.repeat(np.arange(len(person_frame)), NUM_CLASSES_AVA)
    jitter = rng.normal(0, 0.03, size=(len(person_frame), 4))
    det_boxes = np.clip(boxes + jitter, 0, 1).round(3)
    detections = pd.DataFrame({
        "video": np.char.add("video", frame_video[person_frame[det_person]].astype(str)),
        "ts": np.char.zfill(frame_stamp[person_frame[det_person]].astype(str), 4),
        "x1": det_boxes[det_person, 0], "y1": det_boxes[det_person, 1],
        "x2": det_boxes[det_person, 2], "y2": det_boxes[det_person, 3],
        "action": np.tile(class_ids, len(person_frame)), "score": rng.random(len(det_person))})  # tie-free
    gt.to_csv(folder / "gt.csv", header=False, index=False)
    detections.to_csv(folder / "det.csv", header=False, index=False)
    print(f"AVA input: {len(frame_video):,} keyframes, {len(gt):,} ground-truth rows, {len(detections):,} detection rows")
    return folder / "det.csv", folder / "gt.csv", label_map


def time_official_ava(activitynet_dir: Path, detections: Path, groundtruth: Path, label_map: Path) -> tuple[float, float]:
    import logging
    import pprint

    for name, value in (("bool", bool), ("float", float), ("NAN", np.nan)):
        if not hasattr(np, name):
            setattr(np, name, value)  # numpy 2 removed aliases the 2017 evaluator uses
    logging.disable(logging.CRITICAL)
    sys.path[:0] = [str(activitynet_dir / "Evaluation" / "ava"), str(activitynet_dir / "Evaluation")]
    import get_ava_performance

    captured = {}
    original, pprint.pprint = pprint.pprint, lambda obj, *a, **k: captured.setdefault("metrics", obj)
    try:
        start = time.perf_counter()
        with open(label_map) as lm, open(groundtruth) as gt, open(detections) as det:
            get_ava_performance.run_evaluation(lm, gt, det)
        elapsed = time.perf_counter() - start
    finally:
        pprint.pprint = original
    return elapsed, 100 * captured["metrics"]["PascalBoxes_Precision/mAP@0.5IOU"]


def run_ava(scale: float, activitynet_dir: Path | None, rng: np.random.Generator) -> None:
    from vpbench import metrics

    with tempfile.TemporaryDirectory() as folder:
        detections, groundtruth, label_map = make_ava(Path(folder), scale, rng)
        timings = {}
        for convention in ("activitynet", "slowfast"):
            start = time.perf_counter()
            result = metrics.score_files("ava_frame_map", detections, groundtruth, label_map=label_map, convention=convention)
            timings[convention] = time.perf_counter() - start
            print(f"vpbench AVA frame-mAP ({convention}): {result['frame_mAP_iou_0.5']:.4f} in {timings[convention]:.1f} s "
                  f"({result['num_detections_scored']:,} detections scored)")
            if convention == "activitynet":
                ours = result["frame_mAP_iou_0.5"]
        if activitynet_dir is not None:
            elapsed, official = time_official_ava(activitynet_dir, detections, groundtruth, label_map)
            print(f"official get_ava_performance.py: {official:.4f} in {elapsed:.1f} s; |difference| {abs(official - ours):.2e}")
            print(f"AVA speed-up vs the official evaluator: {elapsed / timings['activitynet']:.1f}x")


def make_captions(scale: float, rng: np.random.Generator) -> tuple[list[str], list[list[str]]]:
    vocabulary = np.array([f"w{i}" for i in range(2000)])
    num_items = max(2, round(20000 * scale))

    def sentences(count: int) -> list[str]:
        lengths = rng.integers(8, 16, size=count)
        words = vocabulary[rng.integers(0, len(vocabulary), size=lengths.sum())]
        cuts = np.cumsum(lengths)[:-1]
        return [" ".join(chunk) for chunk in np.split(words, cuts)]

    hypotheses = sentences(num_items)
    flat = sentences(num_items * 20)
    return hypotheses, [flat[i * 20:(i + 1) * 20] for i in range(num_items)]


def run_cider(scale: float, rng: np.random.Generator) -> None:
    from pycocoevalcap.cider.cider import Cider

    from vpbench.metrics.cider import cider_d

    hypotheses, references = make_captions(scale, rng)
    print(f"CIDEr input: {len(hypotheses):,} predictions x 20 references")
    start = time.perf_counter()
    ours, ours_items = cider_d(hypotheses, references)
    ours_s = time.perf_counter() - start
    print(f"vpbench cider_d: {ours:.12f} in {ours_s:.1f} s")
    start = time.perf_counter()
    reference, reference_items = Cider().compute_score({i: r for i, r in enumerate(references)},
                                                       {i: [h] for i, h in enumerate(hypotheses)})
    reference_s = time.perf_counter() - start
    print(f"pycocoevalcap Cider: {reference:.12f} in {reference_s:.1f} s")
    difference = max(abs(ours - reference), float(np.max(np.abs(ours_items - reference_items))))
    print(f"max |difference| (corpus and per item): {difference:.2e} ({'OK' if difference < 1e-9 else 'MISMATCH'})")
    print(f"CIDEr speed-up vs pycocoevalcap: {reference_s / ours_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full benchmark size")
    parser.add_argument("--activitynet-dir", type=Path, default=None,
                        help="checkout of activitynet/ActivityNet, to time its AVA evaluator on the same input")
    parser.add_argument("--only", choices=["ava", "cider"], default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.only in (None, "ava"):
        run_ava(args.scale, args.activitynet_dir, rng)
    if args.only in (None, "cider"):
        run_cider(args.scale, rng)


if __name__ == "__main__":
    main()
