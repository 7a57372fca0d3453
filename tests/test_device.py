"""The hardware target: how many CPU threads a run takes, and what a run needs in memory."""

from __future__ import annotations

import pytest

from ntm_cli import device
from ntm_cli.device import DeviceConfig, threads_for


@pytest.fixture
def no_omp_env(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_an_explicit_thread_count_wins(no_omp_env):
    assert threads_for(DeviceConfig(threads=3), 16) == 3
    assert threads_for(DeviceConfig(threads=1), 512) == 1


def test_small_batches_take_one_thread(no_omp_env, monkeypatch):
    monkeypatch.setattr(device, "idle_cores", lambda: 8.0)
    assert threads_for(DeviceConfig(), 1) == 1 and threads_for(DeviceConfig(), 63) == 1


def test_large_batches_take_the_idle_cores_up_to_four(no_omp_env, monkeypatch):
    for idle, threads in ((0.2, 1), (1.4, 1), (1.6, 2), (2.0, 2), (16.0, 4)):
        monkeypatch.setattr(device, "idle_cores", lambda idle=idle: idle)
        assert threads_for(DeviceConfig(), 128) == threads, idle


def test_a_parallel_sweeps_job_keeps_to_its_share_of_the_cores(no_omp_env, monkeypatch):
    monkeypatch.setattr(device, "idle_cores", lambda: 16.0)  # the jobs start together: each sees all cores idle
    assert [threads_for(DeviceConfig(), 128, share) for share in (1, 3, 8)] == [1, 3, 4]
    assert threads_for(DeviceConfig(), 16, 8) == 1
    monkeypatch.setattr(device, "cores", lambda: 2)
    assert device.oversubscribed(DeviceConfig(threads=1), 1, 2) is None
    assert device.oversubscribed(DeviceConfig(threads=2), None, 1) is None
    line = device.oversubscribed(DeviceConfig(threads=2), 1, 2)
    assert line.startswith("device.threads=2 with 2 jobs at once on 2 cores") and "use device.threads=1" in line


def test_omp_num_threads_is_left_to_torch(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads_for(DeviceConfig(), 128) is None
    assert threads_for(DeviceConfig(threads=1), 128) == 1


def test_idle_cores_sees_a_busy_core():
    """One process spinning here leaves at most cores - 1 (plus noise) idle."""
    import multiprocessing

    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,))
    spinner.start()
    try:
        assert device.idle_cores(0.3) <= device.cores() - 0.5
    finally:
        stop.set()
        spinner.join()


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def test_training_memory_is_the_models_copies_and_the_kept_activations():
    # 1,000 parameters x 4 copies x 4 bytes, and 3 x 1,000 state bytes x 16 sequences x 41 steps.
    assert device.training_bytes(1000, 1000, 16, 41) == 16_000 + 3 * 1000 * 16 * 41
    assert device.inference_bytes(1000, 1000, 500) == 4_000 + 3 * 1000 * 500


def test_a_need_beyond_what_is_free_is_refused(monkeypatch):
    monkeypatch.setattr(device, "available_bytes", lambda dev: 2**30)
    device.check_fits(2**29, device.torch.device("cpu"), "this run", "train.batch_size")
    with pytest.raises(device.ResourceError, match=r"this run needs at least 2.0 GiB .* cpu has 1.0 GiB free; lower"):
        device.check_fits(2**31, device.torch.device("cpu"), "this run", "train.batch_size")
