"""Load MegaDetector v5 checkpoints (YOLOv5 pickles) without the YOLOv5 repository.

MegaDetector v5a/v5b files are ``torch.save({'model': <models.yolo.Model>, ...})`` made by the YOLOv5
repository: unpickling them needs classes named ``models.yolo.Model``, ``models.yolo.Detect``,
``models.common.Conv``, ``models.common.C3``, ``models.common.SPPF`` ... . MegaDetector puts the YOLOv5
repository (or the ``ultralytics-yolov5``/``yolov5`` packages) on ``sys.path`` for that, and uses
torchvision's NMS. Here the unpickler maps those names onto the small re-implementations below, which hold
the same attributes (the pickled state is restored into them untouched) and compute the same forward pass
as YOLOv5 v5.0-v7.0 in eval mode: ``(batch, anchors, 5 + classes)`` with boxes as centre x, centre y, width,
height in input pixels, objectness and per-class probabilities.

Loading a pickle runs code named by the file: load only model files you trust (as with MegaDetector).
"""

from __future__ import annotations

import pickle
import types
from typing import Any

import torch
from torch import nn


def _autopad(k: Any, p: Any = None) -> Any:  # pragma: no cover - used only by constructors, kept for pickles
    return k // 2 if p is None and isinstance(k, int) else p


class Conv(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "bn"):
            return self.act(self.bn(self.conv(x)))
        return self.act(self.conv(x))  # a fused checkpoint (BatchNorm folded into the convolution)


class DWConv(Conv):
    pass


class Focus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(
            torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1)
        )


class Bottleneck(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class BottleneckCSP(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.cv3(self.m(self.cv1(x)))
        y2 = self.cv2(x)
        return self.cv4(self.act(self.bn(torch.cat((y1, y2), 1))))


class C3(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class SPP(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


class SPPF(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Concat(nn.Module):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


class Detect(nn.Module):
    """YOLOv5's anchor-based head, eval mode only."""

    def forward(self, xs: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        outputs = []
        raw = []
        for i in range(self.nl):
            x = self.m[i](xs[i])
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            raw.append(x)
            stride = float(self.stride[i])
            yv, xv = torch.meshgrid(
                torch.arange(ny, device=x.device, dtype=x.dtype),
                torch.arange(nx, device=x.device, dtype=x.dtype),
                indexing="ij",
            )
            grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2)
            # ``anchors`` is stored in grid units (pixels / stride) by every YOLOv5 release since v4.0.
            anchor_px = (self.anchors[i].to(x.dtype) * stride).view(1, self.na, 1, 1, 2)
            y = x.sigmoid()
            xy = (y[..., 0:2] * 2 - 0.5 + grid) * stride
            wh = (y[..., 2:4] * 2) ** 2 * anchor_px
            outputs.append(torch.cat((xy, wh, y[..., 4:]), -1).view(bs, -1, self.no))
        return torch.cat(outputs, 1), raw


class Model(nn.Module):
    """YOLOv5's ``models.yolo.Model`` (``DetectionModel`` since v7.0), eval-mode forward only."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        saved: list[Any] = []
        for m in self.model:
            if m.f != -1:
                x = saved[m.f] if isinstance(m.f, int) else [x if j == -1 else saved[j] for j in m.f]
            x = m(x)
            saved.append(x if m.i in self.save else None)
        return x


DetectionModel = Model

_LAYER_CLASSES = {
    cls.__name__: cls
    for cls in (Conv, DWConv, Focus, Bottleneck, BottleneckCSP, C3, SPP, SPPF, Concat, Detect, Model)
}
_LAYER_CLASSES["DetectionModel"] = Model
_YOLOV5_MODULES = ("models.yolo", "models.common", "models.experimental")


class UnsupportedLayer(Exception):
    """The checkpoint uses a YOLOv5 layer this loader does not re-implement."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        short = module[len("yolov5."):] if module.startswith("yolov5.") else module
        if short in _YOLOV5_MODULES:
            try:
                return _LAYER_CLASSES[name]
            except KeyError:
                raise UnsupportedLayer(f"YOLOv5 layer {module}.{name}") from None
        if short.startswith("utils.") or short == "utils":
            # Training-time helpers sometimes pickled with the checkpoint (never needed for inference).
            return _Placeholder
        return super().find_class(module, name)


class _Placeholder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


#: A module-like object for ``torch.load(..., pickle_module=...)``.
pickle_module = types.SimpleNamespace(
    Unpickler=_Unpickler,
    load=lambda f, **kw: _Unpickler(f, **kw).load(),
    __name__="trapblur_yolov5_pickle",
)


def is_yolov5_model(module: Any) -> bool:
    return isinstance(module, Model)
