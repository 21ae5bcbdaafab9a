"""The exact container options of the docker backend, for CPU and GPU configurations (no engine needed)."""
from docker.types import DeviceRequest

from grader.sandbox import Limits
from grader.sandbox.container import DockerSettings, container_options, gpu_request

OWNER = {"grader.host": "h", "grader.pid": "1"}


def options(gpu_setting="auto", nvidia=False, limits=Limits(memory_mb=1024, cpu_threads=2, pids=64,
                                                          file_mb=16, wall_s=120, gpu=True), runtime=None):
    settings = DockerSettings("img:1", gpu_setting, runtime)
    return container_options(limits, settings, gpu_request(gpu_setting, nvidia), OWNER)


def test_cpu_container_is_locked_down():
    o = options()
    assert o["image"] == "img:1"
    assert o["network_mode"] == "none"
    assert o["read_only"] is True
    assert o["user"] == "65534:65534"
    assert o["cap_drop"] == ["ALL"] and o["security_opt"] == ["no-new-privileges"]
    assert o["mem_limit"] == o["memswap_limit"] == 1024 * 1024 * 1024      # no swap on top
    assert o["nano_cpus"] == 2_000_000_000 and o["pids_limit"] == 64
    assert set(o["tmpfs"]) == {"/tmp", "/work"} and all("size=64m" in v for v in o["tmpfs"].values())
    assert o["working_dir"] == "/work"
    assert o["command"][:4] == ["timeout", "-s", "KILL", "120"]
    assert o["command"][4:7] == ["python3", "-I", "-X"]
    assert o["environment"]["OMP_NUM_THREADS"] == "2" == o["environment"]["GRADER_CPU_THREADS"]
    assert o["environment"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert {u["Name"]: u["Hard"] for u in o["ulimits"]} == {"fsize": 16 * 1024 * 1024, "core": 0, "nofile": 1024}
    assert o["log_config"]["Type"] == "none"
    assert o["labels"] == {"grader.sandbox": "1", **OWNER}
    assert o["stdin_open"] is True and o["tty"] is False
    assert "device_requests" not in o and "volumes" not in o and "privileged" not in o
    assert not any("SECRET" in k or "DATABASE" in k for k in o["environment"])


def test_auto_requests_every_gpu_only_with_the_nvidia_runtime():
    assert "device_requests" not in options("auto", nvidia=False)
    (request,) = options("auto", nvidia=True)["device_requests"]
    assert request == DeviceRequest(count=-1, capabilities=[["gpu"]])


def test_gpu_count_and_device_ids():
    assert options("2")["device_requests"][0] == DeviceRequest(count=2, capabilities=[["gpu"]])
    assert options("0,3")["device_requests"][0] == DeviceRequest(device_ids=["0", "3"], capabilities=[["gpu"]])
    assert options("all")["device_requests"][0]["Count"] == -1
    assert "device_requests" not in options("")


def test_exercises_without_gpu_never_get_one():
    o = options("all", nvidia=True, limits=Limits(gpu=False))
    assert "device_requests" not in o


def test_offline_image_gets_the_runtime_read_only():
    o = options(runtime="/venv/lib/python3.11/site-packages")
    assert o["volumes"] == {"/venv/lib/python3.11/site-packages":
                            {"bind": "/usr/local/lib/python3.11/dist-packages", "mode": "ro"}}
