"""Build tests/data/mdv5_like_random.pt: a MegaDetector-v5-shaped checkpoint with random weights.

Developer tool, not run by the tests. MegaDetector v5 weights cannot be downloaded on our machines, so the
loader is tested against a checkpoint made by the *real* YOLOv5 code (the ``yolov5`` 7.0.14 wheel, unpacked
with ``pip install --no-deps --target DIR yolov5==7.0.14``) from MegaDetector v5's architecture
(yolov5x6.yaml's graph: P3-P6 heads, 4 anchor sets, stride 64) at a tiny width so the file stays small,
with random weights and batch-norm statistics, MegaDetector's class names, saved as YOLOv5's training code
saves checkpoints (``{'model': model.half(), 'epoch': ..., ...}``) with the classes pickled under the
``models.yolo`` / ``models.common`` names that MegaDetector's files use.

It also writes the real YOLOv5 forward pass on a fixed input (tests/data/mdv5_like_random_expected.npz), so
the test compares trapblur's loader with YOLOv5 itself, not with itself.

    python tools/make_mdv5_fixture.py /path/to/unpacked/yolov5-wheel
"""

import importlib.abc
import importlib.machinery
import sys
import types
from pathlib import Path

import numpy as np
import torch
import yaml


class _Whatever:
    """Stands in for the training-only dependencies YOLOv5 imports (pandas, torchvision, ...)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Whatever()

    def __call__(self, *args, **kwargs):
        return _Whatever()

    def __mro_entries__(self, bases):
        return (object,)

    def __ge__(self, other):
        return True

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class _StubModule(types.ModuleType):
    __path__: list = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Whatever()


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    roots = ("pandas", "torchvision", "pkg_resources", "requests", "matplotlib", "seaborn", "psutil", "git",
             "thop", "sahi", "fire", "huggingface_hub", "boto3", "roboflow")

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        module.__version__ = "0.0"


def main(wheel_dir: str) -> None:
    sys.meta_path.insert(0, _StubFinder())
    package = types.ModuleType("yolov5")
    package.__path__ = [str(Path(wheel_dir) / "yolov5")]
    sys.modules["yolov5"] = package
    import yolov5.models.common as common
    import yolov5.models.yolo as yolo

    cfg = yaml.safe_load((Path(wheel_dir) / "yolov5/models/hub/yolov5x6.yaml").read_text())
    cfg.update(nc=3, depth_multiple=0.33, width_multiple=0.0625)
    torch.manual_seed(20240501)
    model = yolo.Model(cfg, ch=3, nc=3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.names = ["animal", "person", "vehicle"]  # MegaDetector v5's class names, as a list like its files
    model.nc = 3
    model.eval()
    model = model.half().float()  # the weights as the half-precision file will hold them

    # Pickle under the module names of the YOLOv5 repository, as MegaDetector's files do.
    sys.modules["models"] = yolo.__spec__ and sys.modules["yolov5.models"]
    sys.modules["models.yolo"] = yolo
    sys.modules["models.common"] = common
    for mod, name in ((yolo, "models.yolo"), (common, "models.common")):
        for value in list(vars(mod).values()):
            if isinstance(value, type) and value.__module__ in (mod.__name__, name):
                value.__module__ = name
    assert type(model).__module__ == "models.yolo", type(model).__module__
    yolo.DetectionModel.__qualname__ = "Model"

    torch.manual_seed(7)
    x = torch.randint(0, 256, (1, 3, 128, 192), dtype=torch.uint8).float() / 255
    with torch.no_grad():
        expected = model(x)[0].numpy()
    out = Path(__file__).resolve().parents[1] / "tests" / "data"
    checkpoint = {"epoch": -1, "best_fitness": None, "model": model.half(), "ema": None, "updates": None,
                  "optimizer": None, "wandb_id": None, "date": "2022-06-01T00:00:00"}
    torch.save(checkpoint, out / "mdv5_like_random.pt")
    np.savez_compressed(out / "mdv5_like_random_expected.npz", input=(x * 255).round().to(torch.uint8).numpy(), output=expected)
    print("wrote", out / "mdv5_like_random.pt", "output", expected.shape)


if __name__ == "__main__":
    main(sys.argv[1])
