"""Helpers for the export tests: camera JPEGs with the metadata that must never leave, independent readers of
what was written, and panoptes-cli's own upload command run offline."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from conftest import textured_pixels

SERIAL = "UXR6BI02004234"
XMP = (
    '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
    f'exif:GPSLatitude="51,29.76N" exif:GPSLongitude="4,46.44E" aux:SerialNumber="{SERIAL}"/>'
    "</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
)


def sensitive_exif(taken: str | None, orientation: int = 1) -> Image.Exif:
    """EXIF like a trail camera's: make, model, time, and a GPS position and serial numbers that must not leak."""
    exif = Image.Exif()
    exif[0x010F] = "RECONYX"
    exif[0x0110] = "HF2X"
    exif[0x0112] = orientation
    exif[0x013B] = "Jo Ranger"  # Artist: kept only when named
    sub = exif.get_ifd(0x8769)
    if taken:
        sub[0x9003] = taken
        sub[0x9004] = taken
    sub[0xA431] = SERIAL  # BodySerialNumber
    sub[0xA435] = "LENS-998877"  # LensSerialNumber
    sub[0xA430] = "Jo Ranger"  # CameraOwnerName
    sub[0x927C] = b"RECONYX\x00SerialNumber=" + SERIAL.encode()  # MakerNote
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (51.0, 29.0, 45.6)
    gps[3], gps[4] = "E", (4.0, 46.0, 26.4)
    return exif


def camera_jpeg(width: int, height: int, seed: int, taken: str | None, orientation: int = 1,
                quality: int = 90) -> bytes:
    """A textured JPEG with sensitive EXIF (GPS, serials, maker note), XMP with GPS and a comment."""
    image = Image.fromarray(textured_pixels(width, height, seed))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=sensitive_exif(taken, orientation).tobytes(),
               xmp=XMP.encode(), comment=f"camera serial {SERIAL}".encode())
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------
# Independent readers


def exiftool_tags(path: Path) -> dict[str, object]:
    """Every tag exiftool finds (all groups, duplicates kept), or a skip where exiftool is not installed."""
    if shutil.which("exiftool") is None:
        if os.environ.get("TRAPBLUR_REQUIRE_EXIFTOOL"):
            pytest.fail("exiftool is required (apt-get install libimage-exiftool-perl)")
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    output = subprocess.run(["exiftool", "-j", "-a", "-G1", "-s", "-b", "-u", str(path)],
                            check=True, capture_output=True, text=True).stdout
    return json.loads(output)[0]


def leaks(path: Path) -> list[str]:
    """Tags or bytes in ``path`` that reveal a position or a serial number (exiftool and raw bytes)."""
    found = [key for key in exiftool_tags(path) if "gps" in key.lower() or "serial" in key.lower()]
    data = path.read_bytes()
    found += [f"bytes {needle!r}" for needle in (SERIAL.encode(), b"GPSLatitude", b"LENS-998877") if needle in data]
    with Image.open(path) as image:
        exif = image.getexif()
        if 0x8825 in exif:
            found.append("Pillow: GPS IFD")
        sub = exif.get_ifd(0x8769)
        found += [f"Pillow: tag {tag:#x}" for tag in (0xA431, 0xA435, 0x927C, 0xA430) if tag in sub]
    return found


# ----------------------------------------------------------------------------------------------------------
# panoptes-cli, offline


@dataclass
class Upload:
    """What panoptes-cli's ``subject-set upload-subjects`` did with a manifest, without a server."""

    exit_code: int
    output: str
    subjects: list = field(default_factory=list)  # panoptes_client Subject objects it built and saved


def panoptes_upload(manifest: Path, *options: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Upload:
    """Run panoptes-cli's own upload command on ``manifest``: its manifest reader, its file checks (exists,
    not empty, at most 1 MiB) and panoptes_client's media-type check (libmagic) all run for real. Only the
    two calls that reach the Zooniverse servers are replaced: finding the subject set and saving a subject.
    """
    pytest.importorskip("panoptes_cli", reason="panoptes-cli is a test dependency (pip install panoptescli)")
    from click.testing import CliRunner
    from panoptes_client import Subject

    import panoptes_cli.commands.subject_set as subject_set_command
    from panoptes_cli.scripts.panoptes import cli

    saved: list = []

    class OfflineSubject(Subject):
        @classmethod
        @contextmanager
        def async_saves(cls) -> Iterator[None]:
            yield

        def save(self, *args: object, **kwargs: object) -> None:
            saved.append(self)
            self.raw["id"] = str(len(saved))
            done: Future = Future()
            done.set_result(True)
            self._async_future = done

    class OfflineSubjectSet:
        def __init__(self) -> None:
            self.metadata: dict = {}
            self.links = type("Links", (), {"project": 1})()

        @classmethod
        def find(cls, _id: int) -> "OfflineSubjectSet":
            return cls()

        def save(self) -> None:
            pass

        def add(self, _ids: list) -> None:
            pass

    monkeypatch.setenv("HOME", str(home))  # panoptes-cli reads ~/.panoptes/config.yml
    monkeypatch.setattr(subject_set_command, "Subject", OfflineSubject)
    monkeypatch.setattr(subject_set_command, "SubjectSet", OfflineSubjectSet)
    result = CliRunner().invoke(cli, ["subject-set", "upload-subjects", *options, "1", str(manifest)],
                                catch_exceptions=False)
    return Upload(result.exit_code, result.output, saved)
