"""The cluster's pure parts: how images are cut into tasks, and which options are refused before anything
starts. None of this needs Dask."""

from __future__ import annotations

import pytest

from trapblur.cluster import ClusterOptions, TaskSize
from trapblur.cluster.connect import scheduler_target, walltime_seconds
from trapblur.cluster.tasks import TaskCutter
from trapblur.errors import OptionsError


def cut(names_and_sizes, size: TaskSize) -> list[list[str]]:
    cutter, tasks = TaskCutter(size), []
    for name, nbytes in names_and_sizes:
        if cutter.starts_task(name, nbytes):
            tasks.append([])
        tasks[-1].append(name)
    return tasks


def test_a_big_folder_is_split_by_count():
    tasks = cut([(f"a/{i}.jpg", 10) for i in range(600)], TaskSize())
    assert [len(t) for t in tasks] == [256, 256, 88]


def test_large_images_are_split_by_bytes():
    twelve_megapixel = 6 * 2**20
    tasks = cut([(f"a/{i}.jpg", twelve_megapixel) for i in range(100)], TaskSize())
    assert [len(t) for t in tasks] == [42, 42, 16]
    assert cut([("a/huge.tif", 2**31), ("a/next.jpg", 10)], TaskSize()) == [["a/huge.tif"], ["a/next.jpg"]]


def test_a_folder_boundary_ends_a_task_unless_it_is_small():
    names = [(f"big/{i}.jpg", 10) for i in range(70)] + [(f"small{j}/{i}.jpg", 10) for j in range(4) for i in range(20)]
    tasks = cut(names, TaskSize())
    assert len(tasks[0]) == 70 and {n.split("/")[0] for n in tasks[0]} == {"big"}
    # Four folders of 20: packed until the task holds at least 64 images when a folder ends.
    assert [len(t) for t in tasks[1:]] == [80]


def test_task_size_must_be_whole_numbers():
    for bad in (0, -1, 1.5, True, "8"):
        with pytest.raises(OptionsError, match="task size: images"):
            TaskSize(images=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text, seconds", [("04:00:00", 14400), ("30:00", 1800), ("90", 5400),
                                           ("1-12:00:00", 129600), ("2-06", 194400), ("0:45:30", 2730)])
def test_walltime_formats_of_batch_systems(text, seconds):
    assert walltime_seconds(text) == seconds


@pytest.mark.parametrize("options, message", [
    (dict(scheduler="tcp://h:1", cluster="local"), "not both"),
    (dict(cluster="kubernetes"), "must be one of local, slurm"),
    (dict(cluster="slurm", cores=8), "needs cores and memory"),
    (dict(jobs=4), "size a cluster that trapblur starts"),
    (dict(scheduler="tcp://h:1", cores=4), "sized when they were started"),
    (dict(cluster="local", walltime="01:00:00"), "takes processes, cores and memory only"),
    (dict(cluster="slurm", cores=8, memory="8GB", walltime="four hours"), "walltime must look like"),
    (dict(cluster="slurm", cores=8, memory="8GB", jobs=0), "jobs must be a whole number of at least 1"),
    (dict(cluster="slurm", cores=8, memory="8GB", gpus=-1), "gpus must be a whole number of at least 0"),
    (dict(worker_timeout=0), "worker_timeout"),
])
def test_options_refused_before_anything_starts(options, message):
    with pytest.raises(OptionsError, match=message):
        ClusterOptions(**options)


def test_scheduler_is_an_address_or_an_existing_file(tmp_path):
    assert scheduler_target("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    assert scheduler_target("node12:8786") == ("node12:8786", None)
    (tmp_path / "scheduler.json").write_text("{}")
    assert scheduler_target(str(tmp_path / "scheduler.json")) == (None, str(tmp_path / "scheduler.json"))
    with pytest.raises(OptionsError, match="no such scheduler file"):
        scheduler_target(str(tmp_path / "missing.json"))


def test_each_worker_process_of_a_job_takes_its_own_gpu(monkeypatch):
    pytest.importorskip("distributed")
    from trapblur.cluster.worker import gpu_device_for

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert gpu_device_for("trapblur-1234-0", {"GPU": 1}) == "cuda:0"
    assert gpu_device_for("trapblur-1234-1", {"GPU": 1}) == "cuda:1"
    assert gpu_device_for("gpu-worker", {"GPU": 1}) == "cuda:0"
    assert gpu_device_for("trapblur-1234-1", {}) is None, "no GPU declared: the loader's own default"


def test_the_command_line_spells_cluster_settings_as_its_flags() -> None:
    from trapblur.cli.common import for_cli

    with pytest.raises(OptionsError) as caught:
        ClusterOptions(cluster="slurm", cores=8)
    assert for_cli(str(caught.value)).startswith("--cluster slurm needs cores and memory (per job), e.g. --cores 8")
