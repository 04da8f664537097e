"""Benchmark-only: a pure-PyTorch ``torchvision::nms`` so Ultralytics' ``predict()`` can run as a baseline.

The torchvision wheel that pairs with the CPU torch here cannot load its compiled operators
("operator torchvision::nms does not exist"), so ``YOLO(...).predict`` fails. Registering the operator
before torchvision is imported lets it run. trapblur never uses this: its own NMS is in numpy.
The loop below is slower than the compiled op on many boxes; predict filters at conf 0.25 first, so it
sees few boxes and the baseline is barely affected.
"""

import torch


def _nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool)
    keep = []
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        inter = ((torch.minimum(x2[i], x2) - torch.maximum(x1[i], x1)).clamp(min=0)
                 * (torch.minimum(y2[i], y2) - torch.maximum(y1[i], y1)).clamp(min=0))
        suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def install() -> None:
    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")  # torchvision registers a fake for it
    library.impl("nms", _nms, "CPU")
    install.library = library  # keep the registration alive
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True
