"""Bursts into subjects, subjects into sets: pure functions over capture times, no I/O.

A camera trap fires a few frames per trigger. Zooniverse projects show such a burst as one subject with
several images (volunteers flip through them). Here a burst is a run of images **in one folder** (one
camera, one deployment) each taken at most ``gap`` seconds after the previous one, cut into subjects of at
most ``per_subject`` images. Images whose capture time is unknown are subjects of their own. Subjects then
fill subject sets of at most ``set_size`` subjects, in folder order, so a set never splits a subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Timed(Generic[T]):
    """Something (an image) with the folder it is in, its name, and when it was taken (None: unknown)."""

    item: T
    folder: str
    name: str
    taken: datetime | None


def group_bursts(images: Sequence[Timed[T]], gap: float, per_subject: int) -> list[list[Timed[T]]]:
    """Subjects: lists of images, in folder order then time order (unknown times last, by name)."""
    subjects: list[list[Timed[T]]] = []
    by_folder = sorted(images, key=lambda t: t.folder)
    for _, group in groupby(by_folder, key=lambda t: t.folder):
        timed = sorted(group, key=lambda t: (t.taken is None, t.taken or datetime.min, t.name))
        current: list[Timed[T]] = []
        for image in timed:
            if current and _continues(current[-1], image, gap) and len(current) < per_subject:
                current.append(image)
            else:
                if current:
                    subjects.append(current)
                current = [image]
        if current:
            subjects.append(current)
    return subjects


def _continues(previous: Timed[T], image: Timed[T], gap: float) -> bool:
    if previous.taken is None or image.taken is None:
        return False
    return 0 <= (image.taken - previous.taken).total_seconds() <= gap


def split_sets(subjects: Sequence[T], set_size: int) -> list[list[T]]:
    """Consecutive chunks of at most ``set_size`` subjects."""
    return [list(subjects[start : start + set_size]) for start in range(0, len(subjects), set_size)]
