"""The fast back end of the block-wise JPEG path: libjpeg-turbo's transform API, through ``ctypes``.

:mod:`.jpeg_lossless` says what the block-wise path promises and plans the edit
(:class:`.jpeg_blocks.BlockPlan`); this module only carries the plan out. It calls the system's TurboJPEG
library (``libturbojpeg``) with ``tjTransform`` and a *custom filter*: a function libjpeg-turbo calls for
every row of 8 x 8 blocks of every component, with a pointer to the row's quantised coefficients, after it
has entropy-decoded the whole file and before it entropy-codes it again. One ``tjTransform`` call holds two
"transforms" of the same decoded coefficients:

1. ``TJXOPT_NOOUTPUT``: the filter copies every block's DC term, and the blocks the plan reads in full
   (for the exact path: the pixel window the blur reads), into numpy arrays; nothing is written. Once all
   are copied, the plan's ``recode`` computes the new coefficients of the blocks it rewrites.
2. The output: the filter overwrites those blocks (and only those) as libjpeg-turbo hands their rows
   over; libjpeg-turbo then writes the file. Every other block keeps its coefficients bit for bit.

So the file is entropy-decoded once and entropy-coded once: the cost is that of a plain lossless
``tjTransform`` (``jpegtran -copy none``) plus the plan's numpy work and ~2 Python calls per block row.

Why this implementation
-----------------------
The other back end, :mod:`.jpeg_pyjpegio`, reads and writes coefficients with ``pyjpegio`` (wheels for Windows, macOS
and Linux: what an R user can install from the registry). It is correct but slower than the re-encoding
path, because reading and writing every coefficient through it costs more than a full decode + encode.
libjpeg-turbo's transform is that cost's floor, and ``ctypes`` reaches it with no compiled code of ours.
The price is a *system* library, ``libturbojpeg`` (Debian/Ubuntu ``apt-get install libturbojpeg0``;
Homebrew ``jpeg-turbo``; the libjpeg-turbo installers on Windows; or set ``TRAPBLUR_TURBOJPEG`` to the
library's path). PyTurboJPEG is not used: from version 2 it refuses libjpeg-turbo 2.x, which is what
Debian 12 ships (2.1.5). Where the library is missing, :func:`.jpeg_lossless.edit_jpeg_blocks` falls
back to pyjpegio (:mod:`.jpeg_pyjpegio`), and where that is missing too, the core re-encodes.

Supported: libjpeg-turbo 2.x and 3.x through the 2.x API (``tjInitTransform``/``tjTransform``; the
``tjtransform`` and ``tjregion`` structures and the filter's signature are the same in both).

Refused here (:class:`.jpeg_blocks.LosslessUnsupported`, so the caller falls back to pyjpegio):

* **files with a restart interval**, unless ``keep_restart_interval`` (what ``backend="auto"`` asks for):
  ``tjTransform`` does not copy it (libjpeg's ``jpeg_copy_critical_parameters`` does not, and the 2.x API
  has no way to set it), so the output would lose its restart markers (field notes, section 3).
  :func:`_set_restart_interval` sets it in the compressor while the output's filter runs, where the
  library's structure can be recognised; elsewhere such files are refused;
* anything :func:`.jpeg_blocks.read_block_layout` refuses (arithmetic, 12-bit, CMYK, ...);
* any libjpeg-turbo error *or warning* (``TJFLAG_STOPONWARNING``): a corrupt file is never half-edited.

Other behaviour worth knowing:

* A baseline file is written with libjpeg's standard Huffman tables (those most cameras use; the 2.x API
  cannot ask for optimised ones), a progressive file with libjpeg's standard progression and optimised
  tables (``TJXOPT_PROGRESSIVE``). Quantisation tables, sampling factors and coefficients are the input's.
* No metadata is copied (``TJXOPT_COPYNONE``): the caller splices in its sanitised copy of the original's.
* A new TurboJPEG handle is made for every image and destroyed after it: reusing one after a progressive
  transform was seen to corrupt later outputs (field notes, section 3).
* ``ctypes`` releases the GIL around ``tjTransform`` (the filter takes it back for its short calls), so
  several images can be processed in threads.
* The output is checked before it is returned: same size, sampling, quantisation tables and mode, no
  restart interval, and every block row the filter had to write was written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .jpeg_blocks import (
    BlockLayout,
    BlockPlan,
    LosslessUnsupported,
    NewBlocks,
    blocks_of,
    read_block_layout,
)

LIBRARY_VARIABLE = "TRAPBLUR_TURBOJPEG"
"""Environment variable: the path of the TurboJPEG library to use, where it is not found by name."""

# turbojpeg.h (the same values in 2.x and 3.x)
TJXOP_NONE = 0
TJXOPT_NOOUTPUT = 1 << 4
TJXOPT_PROGRESSIVE = 1 << 5
TJXOPT_COPYNONE = 1 << 6
TJFLAG_STOPONWARNING = 1 << 13


class _Region(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int), ("h", ctypes.c_int)]


class _Transform(ctypes.Structure):
    pass


_FILTER = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, _Region, _Region, ctypes.c_int, ctypes.c_int,
    ctypes.POINTER(_Transform),
)
_Transform._fields_ = [
    ("r", _Region), ("op", ctypes.c_int), ("options", ctypes.c_int), ("data", ctypes.c_void_p),
    ("customFilter", _FILTER),
]


@dataclass(frozen=True)
class TurboJPEG:
    """A loaded TurboJPEG library: its ``ctypes`` handle, where it came from and its API generation."""

    library: Any
    path: str
    api: str  # "2.x" or "3.x"


_loaded: TurboJPEG | None = None
_load_error: str | None = None
_load_lock = threading.Lock()


def load() -> TurboJPEG:
    """The TurboJPEG library (loaded once per process), or :class:`LosslessUnsupported` saying why not."""
    global _loaded, _load_error
    with _load_lock:
        if _loaded is None and _load_error is None:
            try:
                _loaded = _load()
            except LosslessUnsupported as exc:
                _load_error = str(exc)
    if _loaded is None:
        raise LosslessUnsupported(_load_error)
    return _loaded


def available() -> bool:
    """Whether the TurboJPEG back end can be used on this machine."""
    try:
        load()
    except LosslessUnsupported:
        return False
    return True


def _candidates() -> list[str]:
    names = []
    if os.environ.get(LIBRARY_VARIABLE):
        return [os.environ[LIBRARY_VARIABLE]]
    found = ctypes.util.find_library("turbojpeg")
    if found:
        names.append(found)
    if sys.platform == "darwin":
        names += ["libturbojpeg.dylib", "/opt/homebrew/lib/libturbojpeg.dylib", "/usr/local/lib/libturbojpeg.dylib"]
    elif sys.platform == "win32":
        names += ["turbojpeg.dll", r"C:\libjpeg-turbo64\bin\turbojpeg.dll"]
    else:
        names += ["libturbojpeg.so.0", "libturbojpeg.so"]
    return names


def _load() -> TurboJPEG:
    errors = []
    for name in _candidates():
        try:
            library = ctypes.CDLL(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if not all(hasattr(library, f) for f in ("tjInitTransform", "tjTransform", "tjGetErrorStr2")):
            errors.append(f"{name}: not libjpeg-turbo 2.0 or later (no tjGetErrorStr2)")
            continue
        library.tjInitTransform.restype = ctypes.c_void_p
        library.tjInitTransform.argtypes = []
        library.tjTransform.restype = ctypes.c_int
        library.tjTransform.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_int,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)), ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(_Transform), ctypes.c_int,
        ]
        library.tjGetErrorStr2.restype = ctypes.c_char_p
        library.tjGetErrorStr2.argtypes = [ctypes.c_void_p]
        library.tjDestroy.restype = ctypes.c_int
        library.tjDestroy.argtypes = [ctypes.c_void_p]
        library.tjFree.restype = None
        library.tjFree.argtypes = [ctypes.c_void_p]
        return TurboJPEG(library, name, "3.x" if hasattr(library, "tj3Init") else "2.x")
    where = "; ".join(errors) or "not found"
    raise LosslessUnsupported(
        f"the TurboJPEG library (libturbojpeg) is not available ({where}); set {LIBRARY_VARIABLE} to its path"
    )


# ----------------------------------------------------------------------------------------------------------
# The edit


QUARTER_SCALE_BELOW = 1280
"""Photographs whose short side is under this many pixels also hand back what a 1/4-scale picture needs.

Their 1/8-scale picture is smaller than the usual 160 x 120 EXIF thumbnail, which then had to be rendered
from a second, 1/4-scale decode of the output: for a 1 MP photograph that decode cost as much as the
time block-wise editing saves.
"""


def edit_blocks(
    data: bytes, layout: BlockLayout, plan: BlockPlan, *, keep_restart_interval: bool = False
) -> tuple[bytes, list[np.ndarray], list[np.ndarray] | None]:
    """``data`` with ``plan`` carried out on its coefficients; every other block bit-identical.

    Also returns every component's DC terms (block rows, block columns) as written, the rewritten blocks'
    new ones included: the edited picture at 1/8 scale, from which the caller renders the EXIF thumbnail
    without decoding the output; and for photographs under :data:`QUARTER_SCALE_BELOW`, every block as
    written (block rows, block columns, 8, 8), for a 1/4-scale picture (:func:`.jpeg_dct.quarter_scale`),
    else None. ``layout`` is :func:`.jpeg_blocks.read_block_layout`'s. A file with a
    restart interval is refused unless ``keep_restart_interval`` (see :func:`_set_restart_interval`).
    Raises :class:`LosslessUnsupported` when this back end cannot do it; never returns a partly edited image.
    """
    turbo = load()
    if layout.restart_interval and not keep_restart_interval:
        raise LosslessUnsupported("libjpeg-turbo's transform would drop the restart markers")
    edit = _Edit(layout, plan)
    callback = _FILTER(edit.filter)  # kept alive by this frame for the whole call
    transforms = (_Transform * 2)()
    transforms[0].op = transforms[1].op = TJXOP_NONE
    transforms[0].options = TJXOPT_NOOUTPUT | TJXOPT_COPYNONE
    transforms[1].options = TJXOPT_COPYNONE | (TJXOPT_PROGRESSIVE if layout.progressive else 0)
    transforms[0].customFilter = transforms[1].customFilter = callback
    buffers = (ctypes.POINTER(ctypes.c_ubyte) * 2)()
    sizes = (ctypes.c_ulong * 2)()
    library = turbo.library
    handle = library.tjInitTransform()  # a fresh handle per image: see the module docstring
    if not handle:
        raise LosslessUnsupported("tjInitTransform failed")
    edit.handle = handle
    try:
        status = library.tjTransform(handle, data, len(data), 2, buffers, sizes, transforms, TJFLAG_STOPONWARNING)
        message = library.tjGetErrorStr2(handle).decode("utf-8", "replace").strip() if status else ""
        output = ctypes.string_at(buffers[1], sizes[1]) if status == 0 and buffers[1] else b""
    finally:
        for buffer in buffers:
            if buffer:
                library.tjFree(buffer)
        library.tjDestroy(handle)
    if edit.error is not None:
        raise edit.error
    if status != 0:
        raise LosslessUnsupported(f"libjpeg-turbo's transform failed ({message})")
    edit.check_complete()
    _check_output(output, layout)
    return output, edit.dc, edit.low


class _Edit:
    """The filter's state: which block rows to read and write, and the coefficients in between.

    The filter runs once per block row per component per transform (~1,000 times for 12 MP), so rows
    with nothing to do return after a dictionary lookup, and row views are made from a cached ctypes
    array type rather than ``np.ctypeslib.as_array`` (which builds a new pointer type on each call).
    """

    def __init__(self, layout: BlockLayout, plan: BlockPlan) -> None:
        self.layout, self.plan = layout, plan
        self.error: BaseException | None = None
        count = len(layout.sampling)
        self.shape = [blocks_of(layout, c) for c in range(count)]
        self.row_types = [ctypes.c_short * (columns * 64) for _, columns in self.shape]
        # Full-size planes, but np.zeros does not touch memory: only the rows read are ever filled.
        self.planes = [
            np.zeros((rows, columns, 8, 8), np.int16) if plan.reads[c] is not None else np.zeros((0, 0, 8, 8), np.int16)
            for c, (rows, columns) in enumerate(self.shape)
        ]
        self.dc = [np.zeros((rows, columns), np.int16) for rows, columns in self.shape]
        # Every block of smaller photographs (whose 1/8 scale can be smaller than an EXIF thumbnail), for
        # a 1/4-scale picture: see edit_blocks. One copy per row; a few MB at most.
        self.low = [np.zeros((rows, columns, 8, 8), np.int16) for rows, columns in self.shape] \
            if min(layout.width, layout.height) < QUARTER_SCALE_BELOW else None
        self.write = [plan.writes(c) for c in range(count)]
        self.rows_read = [0] * count
        self.rows_written: list[set[int]] = [set() for _ in range(count)]
        self.new_blocks: NewBlocks | None = None
        self.handle = 0

    def filter(self, coefficients: int, array: _Region, plane: _Region, component: int, index: int, _: Any) -> int:
        """libjpeg-turbo's customFilter: one row of blocks; a return of -1 makes ``tjTransform`` fail."""
        try:
            self._row(coefficients, array, plane, component, index)
            return 0
        except BaseException as exc:  # noqa: BLE001 - re-raised by edit_blocks after tjTransform returns
            if self.error is None:
                self.error = exc
            return -1

    def _row(self, coefficients: int, array: _Region, plane: _Region, component: int, index: int) -> None:
        if self.error is not None:
            raise RuntimeError("an earlier filter call failed")
        rows, columns = self.shape[component] if component < len(self.shape) else (-1, -1)
        if (plane.w, plane.h, array.w, array.h, array.x) != (columns * 8, rows * 8, columns * 8, 8, 0):
            raise LosslessUnsupported("libjpeg-turbo reads this file's layout differently from its headers")
        row = array.y // 8
        if row >= rows:  # padding rows of the last MCU row: not part of the image
            return
        if index == 0:
            blocks = self._view(coefficients, component, columns)
            self.dc[component][row] = blocks[:, 0, 0]
            if self.low is not None:
                self.low[component][row] = blocks
            read = self.plan.reads[component]
            if read is not None and read[0].start <= row < read[0].stop:
                self.planes[component][row, read[1]] = blocks[read[1]]
                self.rows_read[component] += 1
            return
        if index != 1:
            raise RuntimeError(f"unexpected transform index {index}")
        if self.new_blocks is None:
            expected = [0 if r is None else r[0].stop - r[0].start for r in self.plan.reads]
            if self.rows_read != expected:
                raise RuntimeError(f"the blocks were not read completely ({self.rows_read} of {expected} rows)")
            if self.layout.restart_interval:
                _set_restart_interval(self.handle, self.layout)
            self.new_blocks = self.plan.recode(self.planes, self.dc)
        items = self.write[component].get(row)
        if not items:
            return
        blocks = self._view(coefficients, component, columns)
        for edit, span in items:
            new = self.new_blocks(component, row, edit)
            blocks[span] = new
            self.dc[component][row, span] = new[:, 0, 0]
            if self.low is not None:
                self.low[component][row, span] = new
        self.rows_written[component].add(row)

    def _view(self, coefficients: int, component: int, columns: int) -> np.ndarray:
        row = self.row_types[component].from_address(coefficients)
        return np.frombuffer(row, np.int16).reshape(columns, 8, 8)

    def check_complete(self) -> None:
        """Fail closed unless every block row of every area was rewritten."""
        if self.new_blocks is None or any(set(w) != done for w, done in zip(self.write, self.rows_written)):
            raise LosslessUnsupported("libjpeg-turbo did not hand over every block row to be rewritten")


# ----------------------------------------------------------------------------------------------------------
# Keeping a restart interval


def _compress_struct(version: int, boolean: type) -> type:
    """The leading fields of libjpeg's ``jpeg_compress_struct``, up to the restart interval (jpeglib.h).

    Fields that depend on ``JPEG_LIB_VERSION`` (62, the default build, or 70/80) are included as it says.
    """
    c_void_p, c_int, c_uint = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
    fields: list[tuple[str, Any]] = [
        ("err", c_void_p), ("mem", c_void_p), ("progress", c_void_p), ("client_data", c_void_p),
        ("is_decompressor", boolean), ("global_state", c_int), ("dest", c_void_p),
        ("image_width", c_uint), ("image_height", c_uint), ("input_components", c_int), ("in_color_space", c_int),
        ("input_gamma", ctypes.c_double),
    ]
    if version >= 70:
        fields += [("scale_num", c_uint), ("scale_denom", c_uint), ("jpeg_width", c_uint), ("jpeg_height", c_uint)]
    fields += [("data_precision", c_int), ("num_components", c_int), ("jpeg_color_space", c_int),
               ("comp_info", c_void_p), ("quant_tbl_ptrs", c_void_p * 4)]
    if version >= 70:
        fields += [("q_scale_factor", c_int * 4)]
    fields += [("dc_huff_tbl_ptrs", c_void_p * 4), ("ac_huff_tbl_ptrs", c_void_p * 4), ("arith", ctypes.c_ubyte * 48),
               ("num_scans", c_int), ("scan_info", c_void_p), ("raw_data_in", boolean), ("arith_code", boolean),
               ("optimize_coding", boolean), ("CCIR601_sampling", boolean)]
    if version >= 70:
        fields += [("do_fancy_downsampling", boolean)]
    fields += [("smoothing_factor", c_int), ("dct_method", c_int), ("restart_interval", c_uint),
               ("restart_in_rows", c_int)]
    return type(f"_CompressStruct{version}", (ctypes.Structure,), {"_fields_": fields})


_BOOLEAN = ctypes.c_ubyte if sys.platform == "win32" else ctypes.c_int  # jmorecfg.h: unsigned char on Windows
_COMPRESS_STRUCTS = [_compress_struct(version, _BOOLEAN) for version in (62, 80)]
_CSTATE_WRCOEFS = 103  # jpegint.h: jpeg_write_coefficients() done
_JCS_GRAYSCALE, _JCS_YCBCR = 1, 3


def _set_restart_interval(handle: int, layout: BlockLayout) -> None:
    """Give the output the input's restart interval, which ``tjTransform`` (2.x API) does not copy.

    A TurboJPEG handle starts with libjpeg's compressor (``tjinstance.cinfo``); between
    ``jpeg_write_coefficients`` and ``jpeg_finish_compress`` (when the output's custom filter runs), the
    compressor reads ``restart_interval`` only when it writes the scans, so setting it then gives the
    output the input's restart markers, as ``jpegtran -restart`` does. The field's place depends on how
    libjpeg-turbo was built, so it is written only where a dozen fields before it read exactly what they
    must at that moment (this image's size, precision, components, colour space, scan count, the state
    after ``jpeg_write_coefficients``, default settings); otherwise the file is refused and goes to
    pyjpegio. The output is checked for the interval and its markers afterwards.
    """
    for struct in _COMPRESS_STRUCTS:
        compressor = struct.from_address(handle)
        version_ok = not hasattr(compressor, "scale_num") or (compressor.scale_num, compressor.scale_denom) == (1, 1)
        if (
            version_ok
            and compressor.is_decompressor == 0
            and compressor.global_state == _CSTATE_WRCOEFS
            and (compressor.image_width, compressor.image_height) == (layout.width, layout.height)
            and compressor.data_precision == 8
            and compressor.num_components == len(layout.sampling)
            and compressor.jpeg_color_space == (_JCS_YCBCR if layout.colour else _JCS_GRAYSCALE)
            and compressor.err and compressor.mem and compressor.dest and compressor.comp_info
            and compressor.quant_tbl_ptrs[0]
            and (compressor.num_scans > 1 and compressor.scan_info if layout.progressive
                 else compressor.num_scans == 1 and not compressor.scan_info)
            and (compressor.raw_data_in, compressor.arith_code, compressor.CCIR601_sampling) == (0, 0, 0)
            and (compressor.smoothing_factor, compressor.dct_method) == (0, 0)
            and (compressor.restart_interval, compressor.restart_in_rows) == (0, 0)
        ):
            compressor.restart_interval = layout.restart_interval
            return
    raise LosslessUnsupported("libjpeg-turbo's transform would drop the restart markers (unrecognised build)")


def _check_output(output: bytes, layout: BlockLayout) -> None:
    """Refuse an output whose frame differs from the input's in anything the block-wise path promises."""
    try:
        written = read_block_layout(output)
    except Exception as exc:  # noqa: BLE001 - any parse failure means a bad output
        raise LosslessUnsupported(f"libjpeg-turbo wrote an unreadable JPEG ({exc})") from None
    if (
        (written.width, written.height, written.sampling) != (layout.width, layout.height, layout.sampling)
        or written.progressive != layout.progressive
        or written.restart_interval != layout.restart_interval
        or not all(np.array_equal(a, b) for a, b in zip(written.qtables, layout.qtables))
    ):
        raise LosslessUnsupported("libjpeg-turbo's output differs from the input's frame or tables")
    mcus = -(-layout.width // layout.mcu_width) * -(-layout.height // layout.mcu_height)
    if layout.restart_interval and mcus > layout.restart_interval and b"\xff\xd0" not in output:
        raise LosslessUnsupported("libjpeg-turbo's output lacks the restart markers")
