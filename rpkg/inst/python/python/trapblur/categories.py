"""Category names: one spelling for everything that means "person", "vehicle" or "animal".

Results files and users name the same thing in many ways: MegaDetector writes ``person``, other tools
``Person``, ``human`` or ``people``; species classifiers label a person ``human`` or ``homo sapiens``
(SpeciesNet's taxonomy strings end ``...;homo;sapiens;human``); a user types ``--categories people``.
A name that is not recognised cannot simply be skipped: that is how a person is copied unblurred. So every
name, wherever it comes from, goes through :func:`canonical_category`, and every name the user asks for must
resolve to a category the results file defines (:func:`check_defined`), or the run is refused.

Normalising a name: letter case, surrounding spaces, and ``_``/``-``/repeated spaces are ignored
(``Homo_Sapiens`` = ``homo sapiens``). The normalised name is then looked up in :data:`SYNONYMS`, directly,
then as a regular English plural (``trucks``, ``buses``, ``lorries``). A taxonomy string (parts separated
by ``;``) is looked up by its last part (the common name), then by each pair of adjacent parts (genus and
species). A name found nowhere keeps its normalised spelling (``Wild_Boar`` -> ``wild boar``).

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from .errors import OptionsError

PERSON, VEHICLE, ANIMAL = "person", "vehicle", "animal"

#: Every name trapblur reads as one of MegaDetector's three categories (after normalising, see above).
#: Erring towards "person": a privacy tool must not miss a category that a results file spells its own way.
SYNONYMS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "person", "persons", "people", "human", "humans", "human being", "human beings", "homo sapiens",
            "homo sapiens sapiens", "homo", "man", "men", "woman", "women", "child", "children", "pedestrian",
            "hiker", "hunter", "cyclist", "rider",
            # a few other languages field teams write
            "persona", "personas", "personne", "personnes", "pessoa", "pessoas", "humano", "humanos",
            "humain", "humains", "mensch", "menschen", "persoon", "persone",
        ),
        PERSON,
    ),
    **dict.fromkeys(
        (
            "vehicle", "car", "truck", "lorry", "bus", "van", "motorcycle", "motorbike", "motor bike",
            "bicycle", "bike", "scooter", "tractor", "quad", "atv", "pickup", "pickup truck", "suv",
            "automobile", "jeep", "trailer", "snowmobile", "vehiculo", "vehicule", "fahrzeug",
        ),
        VEHICLE,
    ),
    **dict.fromkeys(("animal", "fauna", "wildlife"), ANIMAL),
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalise(name: str) -> str:
    """``name`` without case, surrounding space, or differences between ``_``, ``-`` and spaces."""
    return _SEPARATORS.sub(" ", name.strip().casefold()).strip()


def canonical_category(name: str) -> str:
    """The one spelling of ``name``: ``person``, ``vehicle`` or ``animal`` for their synonyms, else the
    normalised name itself."""
    text = normalise(name)
    found = _known(text)
    if found is not None:
        return found
    if ";" in text:
        parts = [part.strip() for part in text.split(";") if part.strip()]
        candidates = [parts[-1]] if parts else []
        candidates += [f"{a} {b}" for a, b in zip(parts, parts[1:])]
        for candidate in candidates:
            found = _known(candidate)
            if found is not None:
                return found
        return ";".join(parts)
    return text


def requested_category(name: str, argument: str) -> str:
    """:func:`canonical_category` for a name the *user* gave (``categories=``, a threshold's key).

    A name holding ``;`` is refused (:class:`OptionsError` for ``argument``): read as a taxonomy string it
    would mean its last part alone, so ``"person;vehicle"`` (a list as European spreadsheets write them)
    would blur vehicles and copy people unblurred.
    """
    if ";" in name:
        parts = [part.strip() for part in name.split(";") if part.strip()]
        raise OptionsError(
            f"{name!r} holds a ';': give one category per name, as a list ({parts!r}; on the command line "
            "separated by commas)", argument=argument,
        )
    return canonical_category(name)


def _known(text: str) -> str | None:
    if text in SYNONYMS:
        return SYNONYMS[text]
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
        if text.endswith(suffix) and text[: -len(suffix)] + replacement in SYNONYMS:
            return SYNONYMS[text[: -len(suffix)] + replacement]
    return None


def spellings_of(category: str) -> list[str]:
    """The names read as ``category`` (for messages), in the table's order."""
    return [name for name, canonical in SYNONYMS.items() if canonical == category]


def check_defined(requested: Iterable[str], defined: Mapping[str, str], source: str) -> None:
    """Refuse a run whose ``requested`` categories are not all among those the results file defines.

    ``defined`` maps the file's category ids to their names as the file writes them. Raises
    :class:`OptionsError` naming each category that no name in the file resolves to, and listing what the
    file defines, so the user can see whether a category was misspelt or the file is not what they think.
    """
    available = {canonical_category(name) for name in defined.values()}
    missing = [name for name in requested if canonical_category(name) not in available]
    if not missing:
        return
    listed = ", ".join(
        f"{key}={name!r}" + (f" (= {canonical_category(name)})" if canonical_category(name) != name else "")
        for key, name in defined.items()
    ) or "none"
    hints = []
    for name in missing:
        canonical = canonical_category(name)
        if canonical in (PERSON, VEHICLE, ANIMAL):
            hints.append(f"{canonical} (read from: {', '.join(spellings_of(canonical)[:8])}, ...)")
        else:
            hints.append(repr(canonical))
    raise OptionsError(
        f"{source}: no category in this results file means {' or '.join(hints)}, so those detections "
        f"cannot be found and nothing would be blurred for them. The file defines: {listed}. "
        "Check categories= and that this is the right results file"
    )
