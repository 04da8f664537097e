"""Python helpers of the R package (not part of the Python core): what R needs from Python that the core
does not offer as such. Imported by R with reticulate::import_from_path().
"""

from __future__ import annotations

import logging

from PIL import Image, ImageOps


def render(source: str, target: str, max_size: int) -> list[int] | str:
    """Write ``source`` upright, at most ``max_size`` px on its longer side, as a PNG at ``target``.

    For preview_blur(): R's png package applies no EXIF orientation and cannot decode a 12 MP JPEG at
    reduced size; Pillow does both. ``target`` is in R's temporary folder, never beside the images or in
    the shareable folder. Returns [width, height] of the copy, or the reason it cannot be shown.
    """
    try:
        with Image.open(source) as image:
            image.draft("RGB", (max_size, max_size))  # JPEG: decode at 1/2, 1/4 or 1/8 size
            upright = ImageOps.exif_transpose(image)
            picture = upright.convert("RGB")
        picture.thumbnail((max_size, max_size))
        picture.save(target, format="PNG")
        return [picture.width, picture.height]
    except Exception as exc:  # noqa: BLE001 - a preview of a broken file says so instead of stopping
        return f"{type(exc).__name__}: {exc}"


class WarningCollector(logging.Handler):
    """Keeps the core's log warnings of one call, so that R shows them as R warnings, in R's words,
    instead of Python printing them to the terminal (where R cannot catch them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a bad log call must not break the batch
            self.handleError(record)


def collect_warnings() -> WarningCollector:
    collector = WarningCollector()
    logging.getLogger("trapblur").addHandler(collector)
    return collector


def collected_warnings(collector: WarningCollector) -> list[str]:
    logging.getLogger("trapblur").removeHandler(collector)
    return list(dict.fromkeys(collector.messages))  # each message once
