"""From raw detector outputs to scored boxes: decode the head, keep mapped classes, filter, NMS. NumPy only.

No torchvision: its compiled NMS breaks on mixed CPU/GPU installs, and this is small, exact and fast enough.
Boxes here are in model-input pixels as (x1, y1, x2, y2); :meth:`Letterboxed.normalise` maps them back.

Layouts (what a backend's first output holds):
  - ``ultralytics``: ``(batch, 4 + classes [+ extra], anchors)``: centre x, centre y, w, h, class scores
    (pose models append keypoints, segmentation models mask coefficients; they are ignored).
  - ``end2end``: ``(batch, k, 6)``: x1, y1, x2, y2, score, class, already NMS-free (YOLO26/YOLOv10 heads).
  - ``yolov5``: ``(batch, anchors, 5 + classes)``: centre x, centre y, w, h, objectness, class probabilities.
  - ``yolox``: like yolov5 but raw (grid offsets, log sizes) on strides 8/16/32; decoded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

LAYOUTS = ("ultralytics", "end2end", "yolov5", "yolox")


@dataclass(frozen=True)
class Candidates:
    """Kept boxes of one image, best first."""

    boxes: np.ndarray  # (n, 4) x1, y1, x2, y2 in model-input pixels
    scores: np.ndarray  # (n,)
    categories: tuple[str, ...]  # MegaDetector category name per box


@dataclass(frozen=True)
class ClassMapping:
    """Which model classes count, and as which MegaDetector category."""

    names: tuple[str, ...]  # the categories, in column order of the reduced score matrix
    columns: tuple[tuple[int, ...], ...]  # model class indices that make up each category

    @classmethod
    def from_mapping(cls, class_to_category: Mapping[int, str]) -> "ClassMapping":
        names = tuple(sorted(set(class_to_category.values())))
        columns = tuple(tuple(sorted(i for i, c in class_to_category.items() if c == name)) for name in names)
        return cls(names, columns)

    def reduce(self, class_scores: np.ndarray) -> np.ndarray:
        """(anchors, classes) -> (anchors, categories): each category's best class score."""
        return np.stack([class_scores[:, list(cols)].max(axis=1) for cols in self.columns], axis=1)


def yolox_grid(input_hw: tuple[int, int], strides: Sequence[int] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """YOLOX's anchor-free grid: (anchors, 2) cell offsets and (anchors, 1) strides, in its output order."""
    grids, expanded = [], []
    for stride in strides:
        h, w = input_hw[0] // stride, input_hw[1] // stride
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        grids.append(np.stack((xs, ys), axis=2).reshape(-1, 2))
        expanded.append(np.full((h * w, 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


def decode(
    output: np.ndarray,
    layout: str,
    mapping: ClassMapping,
    *,
    num_classes: int,
    input_hw: tuple[int, int],
    conf_floor: float,
    iou_threshold: float,
    max_detections: int = 300,
    max_candidates: int = 30000,
) -> list[Candidates]:
    """Decode a batch of raw outputs into per-image kept boxes (scores > ``conf_floor``, after NMS)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown output layout {layout!r}")
    results = []
    for item in output:
        item = np.asarray(item, dtype=np.float32)
        if layout == "end2end":
            boxes = item[:, :4]
            classes = item[:, 5].astype(int)
            per_class = np.zeros((len(item), num_classes), dtype=np.float32)
            valid = (classes >= 0) & (classes < num_classes)
            per_class[np.nonzero(valid)[0], classes[valid]] = item[valid, 4]
            results.append(_select(boxes, mapping.reduce(per_class), mapping, conf_floor, None, max_detections,
                                   max_candidates))
            continue
        if layout == "ultralytics":
            item = item.T  # (anchors, channels)
            xywh = item[:, :4]
            class_scores = item[:, 4:4 + num_classes]
        else:
            xywh = item[:, :4]
            if layout == "yolox":
                grid, strides = yolox_grid(input_hw)
                xywh = np.concatenate(((xywh[:, :2] + grid) * strides, np.exp(xywh[:, 2:4]) * strides), axis=1)
            class_scores = item[:, 5:5 + num_classes] * item[:, 4:5]
        boxes = np.empty_like(xywh)
        boxes[:, :2] = xywh[:, :2] - xywh[:, 2:4] / 2
        boxes[:, 2:] = xywh[:, :2] + xywh[:, 2:4] / 2
        results.append(_select(boxes, mapping.reduce(class_scores), mapping, conf_floor, iou_threshold,
                               max_detections, max_candidates))
    return results


def _select(
    boxes: np.ndarray,
    category_scores: np.ndarray,
    mapping: ClassMapping,
    conf_floor: float,
    iou_threshold: float | None,
    max_detections: int,
    max_candidates: int,
) -> Candidates:
    best = category_scores.argmax(axis=1)
    scores = category_scores[np.arange(len(best)), best]
    keep = np.nonzero(scores > conf_floor)[0]
    if keep.size > max_candidates:
        keep = keep[np.argsort(-scores[keep], kind="stable")[:max_candidates]]
    boxes, scores, best = boxes[keep], scores[keep], best[keep]
    if iou_threshold is not None and len(keep):
        kept = nms(boxes, scores, best, iou_threshold)
    else:
        kept = np.argsort(-scores, kind="stable")
    kept = kept[:max_detections]
    return Candidates(boxes[kept], scores[kept], tuple(mapping.names[i] for i in best[kept]))


def nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression within each group; indices of kept boxes, best score first.

    A box is dropped when its IoU with a better box of the same group is *above* ``iou_threshold``.
    """
    # Shift each group far apart so one pass never compares boxes of different groups.
    offset = groups.astype(np.float64)[:, None] * (float(np.abs(boxes).max()) + 1.0) * 4.0
    b = boxes.astype(np.float64) + offset
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    order = np.argsort(-scores, kind="stable")
    kept = []
    while order.size:
        i = order[0]
        kept.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)
