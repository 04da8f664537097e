"""How the library names settings in messages, and how the command line re-spells them (trapblur.errors)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import make_camera_jpeg, person, write_md
from trapblur import OptionsError, blur_dataset
from trapblur.cli import build_parser
from trapblur.cli.common import SETTING, for_cli
from trapblur.detection import ModelError, check_detection

LIBRARY = Path(__file__).resolve().parents[1] / "python" / "trapblur"


@pytest.fixture
def camera_folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "a.jpg").write_bytes(make_camera_jpeg(320, 240, seed=1))
    (images / "b.jpg").write_bytes(make_camera_jpeg(320, 240, seed=2))
    results = write_md(tmp_path / "md.json", [{"file": "a.jpg", "detections": [person([0.1, 0.1, 0.3, 0.5])]}])
    return images, results


def library_strings() -> list[tuple[str, str]]:
    """(file, text) of every string in the library outside the CLI that is not a docstring: its messages.

    Not messages, so left out: strings inside a function named ``*_command`` (it builds a shell command line
    for the user to copy, flags and all: the re-run command on the review page, panoptes-cli's upload
    command) and HTML markup (``<...``).
    """
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if "cli" in path.relative_to(LIBRARY).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        commands = {id(inner) for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and node.name.endswith("_command")
                    for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings \
                    and id(node) not in commands and not node.value.lstrip().startswith("<"):
                found.append((path.name, node.value))
    return found


def test_library_messages_spell_settings_as_python_never_as_flags() -> None:
    flags = [(name, text) for name, text in library_strings()
             if re.search(r"(^|[\s(`/])--[a-z][a-z-]+", text)]
    assert flags == [], "spell settings as keyword arguments (overwrite=True); the CLI re-spells them"


def test_every_setting_a_message_names_is_a_flag_of_the_cli() -> None:
    options: set[str] = set()
    parsers = [build_parser()]
    while parsers:  # every (sub-)command's flags
        parser = parsers.pop()
        for action in parser._actions:
            options.update(action.option_strings)
            if isinstance(action.choices, dict):
                parsers.extend(action.choices.values())
    # review_html.py writes HTML, whose attributes (class="axis") look like settings but are not messages
    named = {(m.group(1), m.group(2)) for name, text in library_strings() if name != "review_html.py"
             for m in SETTING.finditer(text)}
    assert named, "the library's messages name settings (overwrite=True, copy_unlisted=True, ...)"
    for name, value in sorted(named):
        flag = for_cli(f"{name}={value}").split()[0]
        assert flag in options, f"{name}={value} becomes {flag}, which the CLI does not have"


@pytest.mark.parametrize(("text", "expected"), [
    ("use overwrite=True to redo every image", "use --overwrite to redo every image"),
    ("(copy_unlisted=True copies such images)", "(--copy-unlisted copies such images)"),
    ("pass resume=False to start again", "pass --no-resume to start again"),
    ("hard links (link_unchanged=True).", "hard links (--link)."),
    ("give its path as model=PATH", "give its path as --model PATH"),
    ("with `trapblur.fetch_model('md-v5a')`", "with `trapblur models fetch md-v5a`"),
    ("`trapblur.list_models()` lists them", "`trapblur models` lists them"),
    ("D:/cams/a=True.jpg and x==True stay", "D:/cams/a=True.jpg and x==True stay"),
])
def test_for_cli_respells_python_settings(text: str, expected: str) -> None:
    assert for_cli(text) == expected


def test_cli_shows_flags_for_a_python_spelled_error(capsys, tmp_path, camera_folder) -> None:
    from trapblur.cli import main

    images, results = camera_folder
    output = tmp_path / "out"
    assert main(["blur", str(images), "--results", str(results), "--out", str(output), "-q"]) in (0, 1)
    assert main(["blur", str(images), "--results", str(results), "--out", str(output), "-q",
                 "--strength", "2"]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "overwrite=True" not in err


def test_options_errors_name_their_argument(tmp_path, camera_folder) -> None:
    images, results = camera_folder
    with pytest.raises(OptionsError) as caught:
        blur_dataset(images, results, tmp_path / "o", strength=0)
    assert caught.value.argument == "strength"
    with pytest.raises(OptionsError) as caught:
        blur_dataset(images, results, tmp_path / "o", threshold={"vehicle": 0.2})
    assert caught.value.argument == "threshold"
    with pytest.raises(OptionsError) as caught:
        blur_dataset(images, results, tmp_path / "o", jpeg_mode="fast")
    assert caught.value.argument == "jpeg_mode"


def test_check_detection_says_what_is_missing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRAPBLUR_CACHE_DIR", str(tmp_path))
    with pytest.raises(ModelError, match=r"trapblur\.fetch_model\('md-v5a'\)"):
        check_detection("md-v5a")
    weights = tmp_path / "tiny.onnx"
    weights.write_bytes(b"not really a model")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="onnxruntime"):
            check_detection(str(weights))
    else:
        assert check_detection(str(weights)).path == weights.resolve()
