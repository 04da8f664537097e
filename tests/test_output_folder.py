"""The output folder under real adverse conditions: read-only, a file in the way, long names, full disks,
two runs at once, killed runs, and other programs' files. Every refusal is one line naming the path, exit 2,
no traceback; per-image write failures fail that image and the batch goes on."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trapblur import OutputFolderError, blur_dataset
from trapblur.atomic import is_temporary, temporary_beside
from trapblur.lock import OutputLock
from trapblur.pipeline import REPORT_NAME, STATE_FOLDER

from _fs_support import assert_clean_error, cli, give_to, on_private_tmpfs, shared_tmp, unprivileged_user  # noqa: F401
from conftest import make_camera_jpeg, person, write_md

BOX = [0.2, 0.2, 0.3, 0.5]


def make_dataset(folder: Path, count: int, width: int = 320, height: int = 240, with_person: bool = True,
                 name: str = "IMG_{:04d}.JPG") -> tuple[Path, Path]:
    images = folder / "cameras"
    images.mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        file = name.format(index)
        (images / file).write_bytes(make_camera_jpeg(width, height, seed=index))
        entries.append({"file": file, "detections": [person(BOX, 0.9)] if with_person and index % 2 == 0 else []})
    return images, write_md(folder / "md.json", entries)


def rows(output: Path, name: str = REPORT_NAME) -> dict[str, dict[str, str]]:
    with (output / name).open(newline="", encoding="utf-8", errors="surrogateescape") as stream:
        return {row["input"]: row for row in csv.DictReader(stream)}


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_temporary(p.name)]


# ----------------------------------------------------------------------------------------------------------
# Refusals at the start


def test_read_only_output_folder_is_refused_in_one_line(shared_tmp: Path) -> None:
    user = unprivileged_user()  # permission bits do not stop root: run as nobody then
    images, results = make_dataset(shared_tmp, 2)
    locked = shared_tmp / "read-only"
    locked.mkdir()
    give_to(locked, user)
    locked.chmod(0o555)
    line = assert_clean_error(cli("blur", str(images), "--results", str(results), "--out", str(locked / "share"), "-q",
                                  user=user), str(locked / "share"), "permission denied")
    assert "cannot create the output folder" in line
    assert_clean_error(cli("blur", str(images), "--results", str(results), "--out", str(locked), "-q", user=user),
                       str(locked), "permission denied")
    assert list(locked.iterdir()) == []  # nothing was written


def test_read_only_file_system_is_refused_in_one_line(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 2)
    result = on_private_tmpfs(tmp_path / "disk", "1m", f"""
        result["new"] = cli("blur", {str(images)!r}, "--results", {str(results)!r}, "--out", MOUNT / "share", "-q")
        result["existing"] = cli("blur", {str(images)!r}, "--results", {str(results)!r}, "--out", MOUNT, "-q")
        result["left"] = sorted(p.name for p in MOUNT.iterdir())
    """, read_only=True)
    for case in ("new", "existing"):
        line = assert_clean_error(subprocess.CompletedProcess([], result[case]["rc"], result[case]["stdout"],
                                                              result[case]["stderr"]), "read-only")
        assert str(tmp_path / "disk") in line
    assert result["left"] == []


def test_output_path_under_a_file_names_the_file(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 2)
    line = assert_clean_error(cli("blur", str(images), "--results", str(results), "--out",
                                  str(results / "share" / "deeper"), "-q"), str(results), "is a file, not a folder")
    assert "Errno" not in line
    assert_clean_error(cli("blur", str(images), "--results", str(results), "--out", str(results), "-q"),
                       str(results), "not a folder")


def test_output_name_too_long_is_refused_in_one_line(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 2)
    for output in (tmp_path / ("x" * 300), tmp_path / "fine" / ("y" * 256) / "share"):
        assert_clean_error(cli("blur", str(images), "--results", str(results), "--out", str(output), "-q"),
                           "file name too long")
    with pytest.raises(OutputFolderError, match="file name too long"):
        blur_dataset(images, results, tmp_path / ("z" * 300))


def test_disk_full_at_start_refuses_then_the_rerun_works(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 3, width=64, height=48)
    result = on_private_tmpfs(tmp_path / "card", "256k", f"""
        fill()
        result["full"] = cli("blur", {str(images)!r}, "--results", {str(results)!r}, "--out", MOUNT / "share", "-q")
        result["left"] = sorted(str(p.relative_to(MOUNT / "share")) for p in (MOUNT / "share").rglob("*"))
        (MOUNT / "filler.bin").unlink()
        result["again"] = cli("blur", {str(images)!r}, "--results", {str(results)!r}, "--out", MOUNT / "share", "-q")
        result["written"] = sorted(p.name for p in (MOUNT / "share").glob("*.JPG"))
    """)
    full = result["full"]
    assert_clean_error(subprocess.CompletedProcess([], full["rc"], full["stdout"], full["stderr"]),
                       str(tmp_path / "card" / "share"), "no space left on the disk")
    # What the failed start left (at most the state folder) does not make the re-run refuse the folder.
    assert set(result["left"]) <= {".trapblur", ".trapblur/lock"}, result["left"]
    assert result["again"]["rc"] == 0, result["again"]
    assert result["written"] == ["IMG_0000.JPG", "IMG_0001.JPG", "IMG_0002.JPG"]


def test_disk_full_during_the_run_fails_only_the_images_that_do_not_fit(tmp_path: Path) -> None:
    images = tmp_path / "cameras"
    images.mkdir()
    (images / "a_small.jpg").write_bytes(make_camera_jpeg(64, 48, seed=1))
    for name in ("b_big.jpg", "c_big.jpg"):
        (images / name).write_bytes(make_camera_jpeg(1600, 1200, seed=2, quality=98))
    assert (images / "b_big.jpg").stat().st_size > 600_000
    results = write_md(tmp_path / "md.json", [{"file": n, "detections": []} for n in ("a_small.jpg", "b_big.jpg", "c_big.jpg")])
    result = on_private_tmpfs(tmp_path / "card", "256k", f"""
        result["run"] = cli("blur", {str(images)!r}, "--results", {str(results)!r}, "--out", MOUNT / "share", "-q")
        result["files"] = sorted(str(p.relative_to(MOUNT / "share")) for p in (MOUNT / "share").rglob("*") if p.is_file())
        result["report"] = (MOUNT / "share" / "trapblur_report.csv").read_text()
    """)
    run = result["run"]
    assert run["rc"] == 1, run
    assert "Traceback" not in run["stderr"]
    report = {row["input"]: row for row in csv.DictReader(result["report"].splitlines())}
    assert report["a_small.jpg"]["action"] == "copied"
    for name in ("b_big.jpg", "c_big.jpg"):
        assert report[name]["action"] == "failed"
        assert report[name]["reason"] == "cannot write the output (no space left on the disk)"
        assert name not in result["files"]
    assert "a_small.jpg" in result["files"]
    assert not [f for f in result["files"] if is_temporary(Path(f).name)]


# ----------------------------------------------------------------------------------------------------------
# Names


def test_long_file_names_are_written_and_a_path_too_long_fails_only_that_image(tmp_path: Path) -> None:
    images = tmp_path / "in"
    images.mkdir()
    long_name = "L" * 246 + ".jpg"  # 250 bytes: fine, but the old temporary name (.NAME.XXXXXXXX.partial) was not
    (images / long_name).write_bytes(make_camera_jpeg(64, 48, seed=1))
    deep = images.joinpath(*["d" * 240] * 15)  # about 3,600 characters: readable here...
    deep.mkdir(parents=True)
    (deep / "deep.jpg").write_bytes(make_camera_jpeg(64, 48, seed=2))
    relative_deep = (deep / "deep.jpg").relative_to(images).as_posix()
    results = write_md(tmp_path / "md.json", [{"file": long_name, "detections": [person(BOX)]},
                                              {"file": relative_deep, "detections": []}])
    output = tmp_path / ("o" * 250) / ("p" * 250)  # ...but over PATH_MAX (4096) below this output folder
    proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = rows(output)
    assert report[long_name]["action"] == "blurred" and (output / long_name).is_file()
    assert report[relative_deep]["action"] == "failed"
    assert report[relative_deep]["reason"] == "cannot write the output (file name too long for this file system)"


# ----------------------------------------------------------------------------------------------------------
# One run at a time

PAUSING_RUN = textwrap.dedent("""
    import sys, time, trapblur
    from pathlib import Path
    images, results, out, ready, go = sys.argv[1:]
    def progress(done, total):
        if done == 2:
            Path(ready).write_text("paused")
            while not Path(go).exists():
                time.sleep(0.02)
    trapblur.blur_dataset(images, results, out, workers=1, progress=progress)
""")


def start_paused_run(images: Path, results: Path, output: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """A real process running blur_dataset, paused after its second image (holding the lock)."""
    ready, go = tmp_path / "ready", tmp_path / "go"
    process = subprocess.Popen([sys.executable, "-c", PAUSING_RUN, str(images), str(results), str(output),
                                str(ready), str(go)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the first run did not start"
        time.sleep(0.02)
    return process, go


def test_a_second_run_into_the_same_output_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 6)
    output = tmp_path / "share"
    first, go = start_paused_run(images, results, output, tmp_path)
    try:
        line = assert_clean_error(cli("blur", str(images), "--results", str(results), "--out", str(output), "-q"),
                                  str(output), "another trapblur run", f"process {first.pid}")
        assert "is writing to this output folder" in line
        with pytest.raises(OutputFolderError, match="another trapblur run"):
            blur_dataset(images, results, output)
    finally:
        go.write_text("go")
        assert first.wait(timeout=120) == 0
    report = rows(output)
    assert len(report) == 6 and {r["action"] for r in report.values()} == {"blurred", "copied"}
    # The refused runs wrote nothing: the first run's journal became the report, with each image once.
    assert not (output / STATE_FOLDER / "journal.csv").exists()


def test_two_trapblur_blur_commands_at_once(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 150, width=640, height=480)
    output = tmp_path / "share"
    journal = output / STATE_FOLDER / "journal.csv"
    first = subprocess.Popen([sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(results),
                              "--out", str(output), "-q", "--workers", "1"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (journal.is_file() and journal.read_text().count("\n") >= 3):
        if first.poll() is not None:
            pytest.fail(f"the first run ended before it could be paused: {first.communicate()}")
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(first.pid, signal.SIGSTOP)  # mid-run, lock held
    try:
        second = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert_clean_error(second, str(output), "another trapblur run", f"process {first.pid}")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert len(rows(output)) == 150


def test_a_killed_run_leaves_nothing_that_makes_the_rerun_refuse(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 6)
    output = tmp_path / "share"
    first, _ = start_paused_run(images, results, output, tmp_path)
    first.kill()
    first.wait(timeout=60)
    assert (output / STATE_FOLDER / "lock").exists()  # the file stays; the lock died with the process
    proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "2 already done by an earlier run" in proc.stdout
    assert len(rows(output)) == 6


def test_the_lock_is_released_when_a_run_is_refused_or_interrupted(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 4)
    output = tmp_path / "share"
    blur_dataset(images, results, output)
    with pytest.raises(OutputFolderError, match="other settings"):  # refused after taking the lock
        blur_dataset(images, results, output, threshold=0.5)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        blur_dataset(images, results, output, overwrite=True, progress=interrupt)
    report = blur_dataset(images, results, output)  # would be "another trapblur run" if a lock were left held
    assert report.counts["blurred"] == 2 and report.counts["copied"] == 2


def test_the_lock_refuses_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    # flock locks belong to the open file: a second open of the same lock file conflicts even in-process,
    # which is what two blur_dataset calls from two threads of one program need.
    first = OutputLock(tmp_path / "lock", tmp_path).acquire()
    try:
        with pytest.raises(OutputFolderError, match=f"process {os.getpid()}"):
            OutputLock(tmp_path / "lock", tmp_path).acquire()
    finally:
        first.release()
    OutputLock(tmp_path / "lock", tmp_path).acquire().release()


# ----------------------------------------------------------------------------------------------------------
# Temporary files


def test_overwrite_removes_only_trapblurs_own_temporary_files(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 2)
    output = tmp_path / "share"
    assert cli("blur", str(images), "--results", str(results), "--out", str(output), "-q").returncode == 0
    handle, ours = temporary_beside(output / "IMG_0000.JPG")  # what a killed run leaves behind
    os.write(handle, b"half an image")
    os.close(handle)
    theirs = {
        ".IMG_0001.JPG.a1b2c3d4.partial": b"a sync tool's temporary",
        ".download.jpg.partial": b"a browser's download",
        "notes.partial": b"someone's notes",
        ".trapblur-notours.partial.bak": b"not the pattern",
        ".trapblur-TOOLONG12.partial": b"upper case: not mkstemp's",
    }
    for name, data in theirs.items():
        (output / name).write_bytes(data)
    proc = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert not ours.exists()
    for name, data in theirs.items():
        assert (output / name).read_bytes() == data, name
    assert temporaries(output) == []


def test_overwrite_into_a_foreign_folder_keeps_other_programs_partial_files(tmp_path: Path) -> None:
    images, results = make_dataset(tmp_path, 2)
    output = tmp_path / "photos"
    (output / "sub").mkdir(parents=True)
    (output / "sub" / ".holiday.jpg.partial").write_bytes(b"mine")
    (output / ".x.partial").write_bytes(b"also mine")
    assert cli("blur", str(images), "--results", str(results), "--out", str(output), "-q").returncode == 2
    assert cli("blur", str(images), "--results", str(results), "--out", str(output), "-q", "--overwrite").returncode == 0
    assert (output / "sub" / ".holiday.jpg.partial").read_bytes() == b"mine"
    assert (output / ".x.partial").read_bytes() == b"also mine"


def test_temporary_names_are_short_whatever_the_destination(tmp_path: Path) -> None:
    handle, temporary = temporary_beside(tmp_path / ("n" * 250 + ".jpg"))
    os.close(handle)
    assert is_temporary(temporary.name) and len(temporary.name) < 40
    assert not is_temporary(".IMG_0001.JPG.abcdefgh.partial")


def test_run_and_detect_refuse_an_unusable_output_before_detecting(tmp_path: Path, shared_tmp: Path) -> None:
    # "no-such-model" is never looked up: each refusal comes first, instead of after an hour of detection.
    images, results = make_dataset(tmp_path, 6)
    output = tmp_path / "share"
    first, go = start_paused_run(images, results, output, tmp_path)
    try:
        assert_clean_error(cli("run", str(images), "--out", str(output), "--model", "no-such-model", "-q"),
                           str(output), "another trapblur run")
    finally:
        go.write_text("go")
        assert first.wait(timeout=120) == 0
    assert not (tmp_path / "share.detections.json").exists()

    user = unprivileged_user()
    cams, _ = make_dataset(shared_tmp, 1)
    locked = shared_tmp / "read-only"
    locked.mkdir()
    give_to(locked, user)
    locked.chmod(0o555)
    assert_clean_error(cli("detect", str(cams), "-o", str(locked / "md.json"), "--model", "no-such-model", "-q",
                           user=user), str(locked), "cannot write the results there", "permission denied")
    assert_clean_error(cli("run", str(cams), "--out", str(locked / "share"), "--model", "no-such-model", "-q",
                           user=user), str(locked / "share"), "permission denied")


def test_a_journal_that_cannot_grow_stops_the_run_in_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes the kernel refuse writes past 8 kB in any one file (EFBIG): the small images still
    # fit, the journal and the results file do not, as on a disk that fills up while the run goes.
    import resource

    images, results = make_dataset(tmp_path, 80, width=32, height=24, with_person=False)
    output = tmp_path / "share"

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))

    proc = subprocess.run([sys.executable, "-m", "trapblur", "blur", str(images), "--results", str(results),
                           "--out", str(output), "-q"], capture_output=True, text=True, timeout=120,
                          preexec_fn=limit_file_size)
    line = assert_clean_error(proc, str(output), "file too large")
    assert "cannot record progress in the journal" in line or "cannot finish the report" in line, line
    assert not (output / REPORT_NAME).exists()  # nothing looks finished
    again = cli("blur", str(images), "--results", str(results), "--out", str(output), "-q")
    assert again.returncode == 0, again.stderr
    assert "already done by an earlier run" in again.stdout
    assert len(rows(output)) == 80 and temporaries(output) == []
