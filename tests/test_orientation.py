"""Orientation end to end: evidence read from the bytes, TIFF decoded as stored, the frame of each tool's
boxes, and blurs that land where the detector saw the person, for every orientation value and container.

Images are turned variants of a real camera-trap photograph (the shared elephants) when ../shared is present,
otherwise of a generated texture: the pixels are turned so that the file *displays* like the upright picture,
the tag is set, and the box is given in the frame the tool in question measures in.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_IMAGES, SHARED_MD, build_exif, decode, textured_pixels
from PIL import Image, ImageOps
from trapblur import BlurOptions, ImageError, blur_dataset, blur_image
from trapblur.codecs import decode_pixels, encode_like, inspect_image
from trapblur.frames import FRAME_MARKER, box_frames, identify_box_source
from trapblur.orientation import OrientationEvidence, neutralised, read_evidence
from trapblur.pipeline import REPORT_NAME
from trapblur.regions import to_pixels, upright_to_stored
from trapblur.report import read_report
from trapblur.results import Detection

T = Image.Transpose
# Pillow's exif_transpose: stored -> displayed; and back.
TO_DISPLAY = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE, 6: T.ROTATE_270,
              7: T.TRANSVERSE, 8: T.ROTATE_90}
TO_STORED = {**TO_DISPLAY, 6: T.ROTATE_90, 8: T.ROTATE_270}
# A box off every symmetry axis of the normalised square, so that each orientation puts it somewhere else.
BOX = (0.10, 0.30, 0.10, 0.10)
FILL = BlurOptions(method="fill", padding=0.0, edge_snap=0.0)
TRAPBLUR_INFO = {"detector": "yolox_nano.onnx", "trapblur_version": "0.x", "trapblur_confidence_floor": 0.005,
                 "trapblur_box_frame": dict(FRAME_MARKER)}
MEGADETECTOR_INFO = {"detector": "md_v5a.0.0.pt", "format_version": "1.4"}
UNKNOWN_INFO = {"detector": "a tool nobody knows 2.1", "format_version": "1.4"}
TOOLS = {"trapblur": TRAPBLUR_INFO, "megadetector": MEGADETECTOR_INFO, "unknown": UNKNOWN_INFO}


# ----------------------------------------------------------------------------------------------------------
# Generators and independent readers


@pytest.fixture(scope="module")
def upright() -> Image.Image:
    """The picture as it should display: a real photograph (640 x 480) when the shared data is present."""
    source = SHARED_IMAGES / "animal_stn_african_elephants.jpg"
    if source.is_file():
        return Image.open(source).convert("RGB").resize((640, 480), Image.Resampling.LANCZOS)
    return Image.fromarray(textured_pixels(640, 480))


def stored_for(display: Image.Image, orientation: int) -> Image.Image:
    """The pixels a file must store so that ``orientation`` displays them as ``display``."""
    return display.transpose(TO_STORED[orientation]) if orientation in TO_STORED else display.copy()


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def xmp_packet(orientation: int | str, style: str = "attribute", prefix: str = "tiff") -> bytes:
    if style == "attribute":
        statement = f'{prefix}:Orientation="{orientation}"'
        body = f'<rdf:Description rdf:about="" xmlns:{prefix}="http://ns.adobe.com/tiff/1.0/" {statement}/>'
    elif style == "single-quoted":
        body = (f"<rdf:Description rdf:about='' xmlns:{prefix}='http://ns.adobe.com/tiff/1.0/' "
                f"{prefix}:Orientation='{orientation}'/>")
    else:
        body = (f'<rdf:Description rdf:about="" xmlns:{prefix}="http://ns.adobe.com/tiff/1.0/">'
                f"<{prefix}:Orientation>{orientation}</{prefix}:Orientation></rdf:Description>")
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f"{body}</rdf:RDF></x:xmpmeta>").encode()


def jpeg_file(image: Image.Image, orientation: int | None = 1, xmp: bytes | None = None,
              extra_exif: int | None = None) -> bytes:
    buffer = io.BytesIO()
    options = {"exif": build_exif(orientation)} if orientation is not None else {}
    image.save(buffer, "JPEG", quality=92, **options)
    data = buffer.getvalue()
    inserted = b""
    if extra_exif is not None:
        inserted += app1(build_exif(extra_exif))
    if xmp is not None:
        inserted += app1(b"http://ns.adobe.com/xap/1.0/\x00" + xmp)
    return data[:2] + inserted + data[2:] if orientation is None else _after_first_app1(data, inserted)


def _after_first_app1(data: bytes, inserted: bytes) -> bytes:
    position = 2
    while data[position + 1] != 0xE1:
        position += 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    end = position + 2 + struct.unpack(">H", data[position + 2 : position + 4])[0]
    return data[:end] + inserted + data[end:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(image: Image.Image, orientation: int | None = 1, raw_profile: int | None = None,
             xmp: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **({"exif": build_exif(orientation)[6:]} if orientation is not None else {}))
    data = buffer.getvalue()
    extra = b""
    if raw_profile is not None:
        blob = build_exif(raw_profile)[6:]
        text = f"\nexif\n{len(blob):8}\n{blob.hex()}\n".encode()
        extra += png_chunk(b"zTXt", b"Raw profile type exif\x00\x00" + zlib.compress(text))
    if xmp is not None:
        extra += png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp)
    return data[:33] + extra + data[33:]  # after IHDR


def tiff_file(image: Image.Image, orientation: int | None = 1, compression: str = "raw",
              xmp: bytes | None = None) -> bytes:
    info: dict[int, object] = {}
    if orientation is not None:
        info[274] = orientation
    if xmp is not None:
        info[700] = xmp
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression=compression, tiffinfo=info)
    return buffer.getvalue()


def tiff_with_exif_sub_ifd(image: Image.Image, orientation: int, sub_orientation: int) -> bytes:
    """An uncompressed RGB TIFF written by hand: IFD0 with Orientation and an EXIF sub-IFD (pointer tag
    34665) holding DateTimeOriginal and another Orientation."""
    pixels = np.asarray(image.convert("RGB")).tobytes()
    width, height = image.size
    date = b"2024:05:01 06:12:30\x00"
    ifd0_entries = 11
    ifd0 = 8
    bits = ifd0 + 2 + 12 * ifd0_entries + 4
    sub = bits + 6
    sub_entries = 2
    date_at = sub + 2 + 12 * sub_entries + 4
    strip = date_at + len(date)
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, bits), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, strip), (274, 3, 1, orientation), (277, 3, 1, 3), (278, 4, 1, height),
               (279, 4, 1, len(pixels)), (34665, 4, 1, sub)]
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd0) + struct.pack("<H", ifd0_entries))
    for tag, kind, count, value in entries:
        out += struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3 and count == 1 else \
            struct.pack("<HHII", tag, kind, count, value)
    out += struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8)
    out += struct.pack("<H", sub_entries) + struct.pack("<HHIHH", 274, 3, 1, sub_orientation, 0)
    out += struct.pack("<HHII", 36867, 2, len(date), date_at) + struct.pack("<I", 0)
    return bytes(out + date + pixels)


def make_file(kind: str, image: Image.Image, orientation: int) -> bytes:
    if kind == "JPEG":
        return jpeg_file(image, orientation)
    if kind == "PNG":
        return png_file(image, orientation)
    return tiff_file(image, orientation, compression=kind.split("-")[1])


def tiff_tags(data: bytes) -> dict[int, tuple[int, int, int]]:
    """IFD0 of a TIFF, read here independently: tag -> (type, count, entry offset)."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    tags = {}
    for index in range(count):
        position = offset + 2 + 12 * index
        tag, kind, number = struct.unpack(order + "HHI", data[position : position + 8])
        tags[tag] = (kind, number, position)
    return tags


def stored_pixels(data: bytes) -> np.ndarray:
    """Pixels in stored order, read without trapblur: OpenCV ignoring orientation for JPEG and PNG; for
    TIFF (which OpenCV 5 and Pillow 13 turn on their own) Pillow on a copy whose tag says 1 and whose XMP
    is renamed away."""
    if data[:2] not in (b"II", b"MM"):
        return decode(data)
    order = "<" if data[:2] == b"II" else ">"
    copy = bytearray(data)
    tags = tiff_tags(data)
    if 274 in tags:
        struct.pack_into(order + "HIHH", copy, tags[274][2] + 2, 3, 1, 1, 0)
    if 700 in tags:
        struct.pack_into(order + "H", copy, tags[700][2], 701)
    return np.array(Image.open(io.BytesIO(bytes(copy))))


def place_in_stored(
    box: tuple[float, float, float, float], orientation: int, stored_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Where ``box`` (x, y, w, h of the picture turned by ``orientation``) lies in the stored pixels:
    drawn on a mask of the turned picture and turned back with Pillow (independent of trapblur's mapping)."""
    width, height = stored_size[::-1] if orientation in (5, 6, 7, 8) else stored_size
    mask = np.zeros((height, width), np.uint8)
    x, y, w, h = box
    mask[round(y * height) : round((y + h) * height), round(x * width) : round((x + w) * width)] = 255
    back = Image.fromarray(mask)
    if orientation in TO_STORED:
        back = back.transpose(TO_STORED[orientation])
    ys, xs = np.nonzero(np.array(back))
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def assert_hidden_exactly_at(before: np.ndarray, after: np.ndarray, places: list[tuple[int, int, int, int]],
                             margin: int, tolerance: int) -> None:
    """Every place filled (near black), everything farther than ``margin`` from all places unchanged."""
    assert before.shape == after.shape
    outside = np.ones(before.shape[:2], bool)
    for x0, y0, x1, y1 in places:
        inside = after[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int)
        original = before[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].astype(int)
        assert inside.mean() < 12 < original.mean(), f"place {(x0, y0, x1, y1)} was not hidden"
        outside[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin] = False
    difference = np.abs(after.astype(int) - before.astype(int))
    assert difference[outside].max(initial=0) <= tolerance, "pixels away from every candidate place changed"


def expected_frames(tool: str, kind: str, orientation: int, components: int = 3) -> set[int]:
    """The decision table (frames.py's docstring), restated independently for the cases tested here."""
    shown = orientation if 1 <= orientation <= 8 else 1
    if shown == 1:
        return {1}
    if tool == "trapblur":
        return {shown}
    if tool == "megadetector" and kind == "JPEG" and components == 3 and shown in (3, 6, 8):
        return {shown}
    return {1, shown}


def run_folder(tmp_path: Path, files: dict[str, bytes], boxes: dict[str, tuple], info: dict,
               options: BlurOptions = FILL) -> dict[str, object]:
    images = tmp_path / "cams"
    images.mkdir()
    for name, data in files.items():
        (images / name).write_bytes(data)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({
        "info": info, "detection_categories": {"1": "animal", "2": "person", "3": "vehicle"},
        "images": [{"file": name, "detections": [{"category": "2", "conf": 0.9, "bbox": list(boxes[name])}]}
                   for name in files],
    }))
    output = tmp_path / "out"
    blur_dataset(images, results, output, padding=options.padding, method=options.method, shape=options.shape)
    return {row.input: row for row in read_report(output / REPORT_NAME)} | {"__out__": output}


# ----------------------------------------------------------------------------------------------------------
# Every orientation, every container, three kinds of tool


KINDS = ["JPEG", "PNG", "TIFF-raw", "TIFF-tiff_lzw", "TIFF-tiff_adobe_deflate"]


@pytest.mark.parametrize("tool", sorted(TOOLS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_orientation_blurs_every_candidate_place_and_nothing_else(
    upright: Image.Image, tool: str, kind: str, tmp_path: Path
) -> None:
    """The box is where the person is in the picture the tool looked at (turned by the tag for trapblur and
    for MegaDetector's rotations, as stored for MegaDetector's mirrored values). Each candidate place is
    hidden; every pixel away from all of them is untouched; the output's tag and display are the input's."""
    files, boxes = {}, {}
    for orientation in range(1, 9):
        name = f"o{orientation}.{ {'JPEG': 'jpg', 'PNG': 'png'}.get(kind, 'tif') }"
        files[name] = make_file(kind, stored_for(upright, orientation), orientation)
        boxes[name] = BOX
    rows = run_folder(tmp_path, files, boxes, TOOLS[tool])
    output = rows.pop("__out__")
    container = kind.split("-")[0]
    for name, data in files.items():
        orientation = int(name[1])
        row = rows[name]
        assert row.action == "blurred", (name, row.reason)
        written = (output / name).read_bytes()
        before, after = stored_pixels(data), stored_pixels(written)
        stored_size = (before.shape[1], before.shape[0])
        candidates = expected_frames(tool, container, orientation)
        places = [place_in_stored(BOX, o, stored_size) for o in sorted(candidates)]
        assert row.regions == len(places), (name, row.reason)
        assert ("orientation ambiguous" in row.reason) == (len(candidates) > 1), (name, row.reason)
        margin, tolerance = (24, 3) if container == "JPEG" else (1, 0)
        assert_hidden_exactly_at(before, after, places, margin, tolerance)
        # The output says the same orientation and so displays like the input.
        assert read_evidence(written, container).exif == orientation
        shown_before = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
        shown_after = ImageOps.exif_transpose(Image.open(io.BytesIO(written)))
        assert shown_before.size == shown_after.size == upright.size


def test_gaussian_blur_on_a_turned_tiff_lands_on_the_elephant(tmp_path: Path) -> None:
    """The issue's TIFF case with the default blur: orientation 6 TIFF, box upright (trapblur's frame)."""
    source = SHARED_IMAGES / "animal_stn_african_elephants.jpg"
    if not source.is_file():
        pytest.skip("../shared is not present")
    display = Image.open(source).convert("RGB")
    elephant = (0.56, 0.42, 0.09, 0.16)
    files = {"e.tif": tiff_file(stored_for(display, 6), 6, "tiff_lzw")}
    rows = run_folder(tmp_path, files, {"e.tif": elephant}, TRAPBLUR_INFO, BlurOptions())
    out = rows["__out__"] / "e.tif"
    assert rows["e.tif"].action == "blurred" and rows["e.tif"].regions == 1
    shown_before = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(files["e.tif"]))).convert("L"), float)
    shown_after = np.asarray(ImageOps.exif_transpose(Image.open(out)).convert("L"), float)
    assert shown_before.shape == shown_after.shape == (1536, 2048)  # displayed the same way up
    h, w = shown_before.shape
    x0, y0, x1, y1 = (int(0.57 * w), int(0.43 * h), int(0.64 * w), int(0.57 * h))
    inside_before = np.abs(np.diff(shown_before[y0:y1, x0:x1], axis=1)).mean()
    inside_after = np.abs(np.diff(shown_after[y0:y1, x0:x1], axis=1)).mean()
    assert inside_after < 0.3 * inside_before  # the elephant's skin texture is gone
    away = (slice(0, int(0.3 * h)), slice(0, int(0.3 * w)))
    assert np.array_equal(shown_before[away], shown_after[away])


# ----------------------------------------------------------------------------------------------------------
# Cases of our own: odd values, disagreeing statements, other containers


def _one(tmp_path: Path, name: str, data: bytes, box: tuple, info: dict) -> tuple[object, bytes]:
    rows = run_folder(tmp_path, {name: data}, {name: box}, info)
    return rows[name], (rows["__out__"] / name).read_bytes() if (rows["__out__"] / name).is_file() else b""


@pytest.mark.parametrize("value", [0, 9, 255, 65535])
@pytest.mark.parametrize("tool", ["megadetector", "unknown", "trapblur"])
def test_orientation_values_outside_1_to_8_count_as_1_and_are_kept(
    upright: Image.Image, value: int, tool: str, tmp_path: Path
) -> None:
    data = jpeg_file(upright, value)
    row, written = _one(tmp_path, "odd.jpg", data, BOX, TOOLS[tool])
    assert row.action == "blurred" and row.regions == 1 and "ambiguous" not in row.reason
    places = [place_in_stored(BOX, 1, upright.size)]
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), places, 24, 3)
    assert Image.open(io.BytesIO(written)).getexif()[274] == value


@pytest.mark.parametrize(("exif", "xmp", "tool", "expected"), [
    (1, 6, "megadetector", {1, 6}),  # viewers say 1, XMP says 6: a tool reading XMP saw it turned
    (6, 3, "megadetector", {1, 3, 6}),
    (6, 3, "trapblur", {6}),  # trapblur's detector ignores XMP, and said so
    (6, 6, "megadetector", {6}),  # agreeing statements are no ambiguity
    (None, 6, "megadetector", {1, 6}),  # XMP only, no EXIF at all
    (None, 6, "trapblur", {1}),
    (3, 8, "unknown", {1, 3, 8}),
])
@pytest.mark.parametrize("style", ["attribute", "single-quoted", "element"])
def test_xmp_orientation_disagreeing_or_alone(upright: Image.Image, exif: int | None, xmp: int, tool: str,
                                              expected: set[int], style: str, tmp_path: Path) -> None:
    shown = exif if exif in range(1, 9) else 1
    packet = xmp_packet(xmp, style, prefix="tiff" if style != "element" else "t")
    data = jpeg_file(stored_for(upright, shown), exif, xmp=packet)
    row, written = _one(tmp_path, "x.jpg", data, BOX, TOOLS[tool])
    stored_size = Image.open(io.BytesIO(data)).size
    assert row.action == "blurred" and row.regions == len(expected), row.reason
    assert ("orientation ambiguous" in row.reason) == (len(expected) > 1)
    places = [place_in_stored(BOX, o, stored_size) for o in sorted(expected)]
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), places, 24, 3)
    assert read_evidence(written, "JPEG").xmp == (xmp,)  # XMP kept as it was


def test_two_exif_blocks_that_disagree_are_ambiguous(upright: Image.Image, tmp_path: Path) -> None:
    data = jpeg_file(stored_for(upright, 6), 6, extra_exif=3)  # readers take the first; others may not
    row, written = _one(tmp_path, "two.jpg", data, BOX, MEGADETECTOR_INFO)
    stored_size = Image.open(io.BytesIO(data)).size
    places = [place_in_stored(BOX, o, stored_size) for o in (1, 3, 6)]
    assert row.regions == 3 and "orientation ambiguous" in row.reason
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), places, 24, 3)


def test_greyscale_jpeg_rotated_is_ambiguous_for_megadetector(upright: Image.Image, tmp_path: Path) -> None:
    """MegaDetector converts greyscale pictures before reading EXIF, so it keeps them as stored."""
    data = jpeg_file(stored_for(upright, 6).convert("L"), 6)
    row, written = _one(tmp_path, "grey.jpg", data, BOX, MEGADETECTOR_INFO)
    stored_size = Image.open(io.BytesIO(data)).size
    assert row.regions == 2 and "orientation ambiguous" in row.reason
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written),
                             [place_in_stored(BOX, o, stored_size) for o in (1, 6)], 24, 3)


def test_cmyk_jpeg_rotated_is_decoded_as_stored_and_ambiguous_for_megadetector(
    upright: Image.Image, tmp_path: Path
) -> None:
    """CMYK JPEGs are decoded by Pillow (from the neutralised copy); MegaDetector cannot load them at all."""
    buffer = io.BytesIO()
    stored_for(upright, 6).convert("CMYK").save(buffer, "JPEG", quality=92, exif=build_exif(6))
    data = buffer.getvalue()
    source = inspect_image(data)
    assert (source.width, source.height, source.orientation) == (480, 640, 6)
    assert decode_pixels(source).array.shape == (640, 480, 4)
    row, written = _one(tmp_path, "cmyk.jpg", data, BOX, MEGADETECTOR_INFO)
    assert row.action == "blurred" and row.regions == 2 and "orientation ambiguous" in row.reason
    before, after = stored_pixels(data).astype(int), stored_pixels(written).astype(int)
    for x0, y0, x1, y1 in (place_in_stored(BOX, o, (480, 640)) for o in (1, 6)):
        # hidden: one flat colour (fill paints CMYK zeros, which show white), where there was texture
        assert after[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].std() < 3 < before[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].std()
    assert np.abs(after[:100, 150:] - before[:100, 150:]).mean() < 3  # re-encoded, but untouched there
    assert Image.open(io.BytesIO(written)).getexif()[274] == 6


def test_png_raw_profile_exif_counts_as_another_statement(upright: Image.Image, tmp_path: Path) -> None:
    """ImageMagick's "Raw profile type exif" text chunk: Pillow reads it, OpenCV and viewers do not."""
    data = png_file(upright, orientation=None, raw_profile=6)
    evidence = read_evidence(data, "PNG")
    assert evidence.exif is None and evidence.other == (6,) and evidence.has_exif
    row, written = _one(tmp_path, "raw.png", data, BOX, MEGADETECTOR_INFO)
    assert row.regions == 2 and "orientation ambiguous" in row.reason
    places = [place_in_stored(BOX, o, upright.size) for o in (1, 6)]
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), places, 1, 0)
    (tmp_path / "t").mkdir()
    row, written = _one(tmp_path / "t", "raw.png", data, BOX, TRAPBLUR_INFO)
    assert row.regions == 1  # trapblur's detector saw it as stored (display orientation 1)


def test_png_xmp_in_compressed_itxt_is_read(upright: Image.Image) -> None:
    buffer = io.BytesIO()
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(8).decode(), zip=True)
    upright.save(buffer, "PNG", pnginfo=info)
    assert read_evidence(buffer.getvalue(), "PNG").xmp == (8,)


def test_tiff_with_orientation_and_an_exif_sub_ifd(upright: Image.Image, tmp_path: Path) -> None:
    """IFD0 says 6, the EXIF sub-IFD (where no standard reader looks) says 3: trapblur's own frame is exact,
    MegaDetector's is ambiguous between all three."""
    data = tiff_with_exif_sub_ifd(stored_for(upright, 6), 6, 3)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8769)[36867] == "2024:05:01 06:12:30"
    evidence = read_evidence(data, "TIFF")
    assert evidence.exif == 6 and evidence.other == (3,)
    stored_size = Image.open(neutralised(data, evidence)).size
    assert stored_size == (480, 640)
    for tool, expected in (("trapblur", {6}), ("megadetector", {1, 3, 6})):
        folder = tmp_path / tool
        folder.mkdir()
        row, written = _one(folder, "sub.tif", data, BOX, TOOLS[tool])
        assert row.regions == len(expected), row.reason
        places = [place_in_stored(BOX, o, stored_size) for o in sorted(expected)]
        assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), places, 1, 0)
        assert tiff_tags(written)[274][:2] == (3, 1) and read_evidence(written, "TIFF").exif == 6


def test_tiff_with_xmp_orientation_only_is_decoded_as_stored(upright: Image.Image, tmp_path: Path) -> None:
    """Pillow 13 turns such a TIFF by its XMP while loading it, though its header reports the stored size."""
    data = tiff_file(upright, None, "raw", xmp=xmp_packet(6))
    source = inspect_image(data)
    assert (source.width, source.height) == upright.size and source.orientation == 1
    assert np.array_equal(decode_pixels(source).array, np.asarray(upright))
    row, written = _one(tmp_path, "xmp.tif", data, BOX, TRAPBLUR_INFO)
    assert row.regions == 1
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(written), [place_in_stored(BOX, 1, upright.size)], 1, 0)


def test_broken_exif_block_withholds_with_a_reason(upright: Image.Image, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    upright.save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    data = data[:2] + app1(b"Exif\x00\x00II*\x00\xff\xff\x00\x00") + data[2:]  # IFD0 offset past the end
    row, written = _one(tmp_path, "broken.jpg", data, BOX, MEGADETECTOR_INFO)
    assert row.action == "failed" and "EXIF orientation" in row.reason and written == b""


def test_blur_image_without_results_info_covers_both_places(upright: Image.Image) -> None:
    data = jpeg_file(stored_for(upright, 8), 8)
    box = Detection("person", 0.9, BOX)
    stored_size = Image.open(io.BytesIO(data)).size
    unknown = blur_image(data, [box], FILL)
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(unknown),
                             [place_in_stored(BOX, o, stored_size) for o in (1, 8)], 24, 3)
    exact = blur_image(data, [box], FILL, results_info=MEGADETECTOR_INFO)
    assert_hidden_exactly_at(stored_pixels(data), stored_pixels(exact), [place_in_stored(BOX, 8, stored_size)], 24, 3)


# ----------------------------------------------------------------------------------------------------------
# The pieces on their own


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("compression", ["raw", "tiff_lzw", "tiff_adobe_deflate"])
def test_tiff_is_inspected_and_decoded_as_stored(orientation: int, compression: str) -> None:
    pixels = textured_pixels(60, 40)
    data = tiff_file(Image.fromarray(pixels), orientation, compression)
    source = inspect_image(data)
    assert (source.width, source.height, source.orientation) == (60, 40, orientation)
    decoded = decode_pixels(source)
    assert np.array_equal(decoded.array, pixels)
    encoded = encode_like(source, decoded).data
    assert tiff_tags(encoded)[274][:2] == (3, 1) and read_evidence(encoded, "TIFF").exif == orientation
    assert np.array_equal(stored_pixels(encoded), pixels)  # written as stored: it displays like the input


@pytest.mark.parametrize("orientation", range(1, 9))
def test_turn_matches_pillow_and_the_box_mapping(orientation: int) -> None:
    from trapblur.codecs import as_displayed as turn

    stored = textured_pixels(64, 48)
    turned = turn(stored, orientation)
    image = Image.fromarray(stored)
    expected = np.asarray(image.transpose(TO_DISPLAY[orientation]) if orientation in TO_DISPLAY else image)
    assert np.array_equal(turned, expected)
    # a pixel-sized box on the turned picture maps back onto the same stored pixel
    height, width = turned.shape[:2]
    for (x, y) in ((3, 5), (width - 2, 1), (7, height - 4)):
        box = (x / width, y / height, (x + 1) / width, (y + 1) / height)
        p = to_pixels(upright_to_stored(box, orientation), stored.shape[1], stored.shape[0])
        assert (p.width, p.height) == (1, 1)
        assert np.array_equal(stored[p.y0, p.x0], turned[y, x])


def test_evidence_of_each_container() -> None:
    image = Image.fromarray(textured_pixels(40, 30))
    six = read_evidence(jpeg_file(image, 6), "JPEG")
    assert (six.exif, six.has_exif, six.xmp, six.other, six.irregular, six.display) == (6, True, (), (), False, 6)
    plain = read_evidence(jpeg_file(image, None), "JPEG")
    assert (plain.exif, plain.has_exif, plain.xmp, plain.display) == (None, False, (), 1)
    assert not plain.alternatives
    assert read_evidence(png_file(image, 5), "PNG").exif == 5
    assert read_evidence(tiff_file(image, 7), "TIFF").exif == 7
    for style, prefix in (("attribute", "tiff"), ("single-quoted", "tiff"), ("element", "ns1"), ("attribute", "t")):
        evidence = read_evidence(jpeg_file(image, 1, xmp=xmp_packet(6, style, prefix)), "JPEG")
        assert evidence.xmp == (6,) and evidence.alternatives == {6}


def test_box_sources_from_real_results_files() -> None:
    if not SHARED_MD.is_dir():
        pytest.skip("../shared is not present")
    tools = {path.name: identify_box_source(json.loads(path.read_text()).get("info")).tool
             for path in SHARED_MD.glob("*.json")}
    assert tools["animl-py_md_gt.json"] == "animl"
    assert tools["ena24_mdv4.1_format1.0.json"] == "megadetector-old"  # no detector named: MegaDetector v4
    assert tools["orientation_check.md.json"] == "unknown"


@pytest.mark.parametrize(("info", "tool"), [
    ({"detector": "md_v5a.0.0.pt", "format_version": "1.4"}, "megadetector"),
    ({"detector": "md_v5b.0.0.pt", "format_version": "1.3",
      "detector_metadata": {"megadetector_version": "v5b.0.0"}}, "megadetector"),
    ({"detector": "md_v1000.0.0-redwood.pt", "format_version": "1.5"}, "megadetector"),
    ({"detector": "md_v4.1.0.pb", "format_version": "1.1"}, "megadetector-old"),
    ({"detector": "megadetector_v4.1"}, "megadetector-old"),
    ({"detector": "md_v5a.0.0.pt"}, "megadetector-old"),  # no format version: cannot vouch for the loader
    ({"detector": "megadetector_v5"}, "pytorch-wildlife"),  # PyTorch-Wildlife's default info
    ({"format_version": "3.0", "detector": "MegaDetector v5a", "classifier": "Animl"}, "animl"),
    ({"detector": "yolox", "trapblur_version": "0.1", "trapblur_confidence_floor": 0.005}, "trapblur-old"),
    ({"detector": "yolox", "trapblur_box_frame": {"rule": "exif-orientation", "version": 1}}, "trapblur"),
    ({"detector": "yolox", "trapblur_box_frame": {"rule": "exif-orientation", "version": 99}}, "unknown"),
    ({"format_version": "1.4"}, "unknown"),
    ({}, "megadetector-old"),
    (None, "megadetector-old"),
])
def test_box_source_identification(info: dict | None, tool: str) -> None:
    assert identify_box_source(info).tool == tool


def test_decision_table_rows() -> None:
    def frames(tool: str, kind: str, evidence: OrientationEvidence, components: int | None = 3) -> tuple[int, ...]:
        return box_frames(identify_box_source({"trapblur": TRAPBLUR_INFO, "md": MEGADETECTOR_INFO,
                                               "animl": {"format_version": "3.0"},
                                               "pw": {"detector": "megadetector_v5"},
                                               "old": {"trapblur_version": "0", "trapblur_confidence_floor": 0},
                                               "unknown": UNKNOWN_INFO}[tool]),
                          evidence, kind, components).orientations

    six = OrientationEvidence(6, True)
    assert frames("trapblur", "PNG", six) == (6,)
    assert frames("md", "JPEG", six) == (6,)
    assert frames("md", "JPEG", six, components=1) == (1, 6)
    assert frames("md", "JPEG", OrientationEvidence(5, True)) == (1, 5)
    assert frames("md", "TIFF", six, None) == (1, 6)
    assert frames("animl", "JPEG", six) == (1,)
    assert frames("animl", "TIFF", six, None) == (1, 6)
    assert frames("pw", "JPEG", six) == (1, 6)
    assert frames("old", "JPEG", six) == (6,)
    assert frames("old", "PNG", six, None) == (1, 6)
    assert frames("unknown", "JPEG", OrientationEvidence(1, True, xmp=(1,))) == (1,)
    assert frames("trapblur", "JPEG", OrientationEvidence(1, True, xmp=(6,))) == (1,)
    assert frames("animl", "JPEG", OrientationEvidence(1, True, xmp=(8,))) == (1, 8)
    assert frames("md", "JPEG", OrientationEvidence(6, True, irregular=True)) == (1, 6)


def test_unreadable_primary_exif_is_an_image_error() -> None:
    data = jpeg_file(Image.fromarray(textured_pixels(40, 30)), None)
    broken = data[:2] + app1(b"Exif\x00\x00XX*\x00\x08\x00\x00\x00") + data[2:]  # no byte-order mark
    with pytest.raises(ImageError, match="EXIF orientation"):
        read_evidence(broken, "JPEG")
    with pytest.raises(ImageError, match="EXIF orientation"):
        inspect_image(broken)


def test_exif_after_the_scan_is_only_another_statement() -> None:
    """libjpeg and Pillow stop reading markers at the first scan: an EXIF block after it is not primary."""
    data = jpeg_file(Image.fromarray(textured_pixels(40, 30)), 1)
    late = data[:-2] + app1(build_exif(6)) + b"\xff\xd9"
    evidence = read_evidence(late, "JPEG")
    assert (evidence.exif, evidence.other, evidence.display, evidence.alternatives) == (1, (6,), 1, {6})
    assert Image.open(io.BytesIO(late)).getexif()[274] == 1


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "TIFF-tiff_lzw"])
def test_read_upright_turns_every_orientation_to_the_displayed_picture(
    upright: Image.Image, kind: str, tmp_path: Path
) -> None:
    """What ``run``'s detector sees: the picture as displayed, for all eight values, whatever the container
    (OpenCV 5 and Pillow 13 would otherwise turn TIFFs on their own, JPEGs and PNGs by other rules)."""
    from trapblur.detection.preprocess import read_upright

    expected = np.asarray(upright)[..., ::-1].astype(int)  # BGR
    for orientation in range(1, 9):
        path = tmp_path / f"o{orientation}.img"
        path.write_bytes(make_file(kind, stored_for(upright, orientation), orientation))
        seen = read_upright(path).astype(int)
        assert seen.shape == expected.shape, orientation
        if kind == "JPEG":
            assert np.abs(seen - expected).mean() < 4, orientation
            reduced = read_upright(path, min_long_side=300)  # DCT-scaled decode, then turned
            assert reduced.shape == (240, 320, 3), orientation
        else:
            assert np.array_equal(seen, expected), orientation


def test_an_output_made_under_older_frame_rules_is_not_resumed(upright: Image.Image, tmp_path: Path) -> None:
    """A folder an older trapblur wrote may hold TIFF blurs in the wrong place: resuming would keep them."""
    from trapblur import OutputFolderError

    rows = run_folder(tmp_path, {"a.tif": tiff_file(stored_for(upright, 6), 6)}, {"a.tif": BOX}, TRAPBLUR_INFO)
    output = rows["__out__"]
    state = output / ".trapblur" / "run.json"
    document = json.loads(state.read_text())
    del document["fingerprint"]["box_frame_rules"]  # as written before the rules existed
    state.write_text(json.dumps(document))
    with pytest.raises(OutputFolderError, match="rules for where rotated images' boxes are"):
        blur_dataset(tmp_path / "cams", tmp_path / "results.json", output, padding=0.0, method="fill")
