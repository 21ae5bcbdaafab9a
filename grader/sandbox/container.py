"""Docker backend: the student runner in a locked-down container, reached over its attached stdio.

The container has no network, a read-only root, small size-capped tmpfs folders, a throwaway uid
with no capabilities, cgroup memory/CPU/pids limits and a hard wall-clock cap (`timeout` as its
first process), so it dies even if the grader does. Nothing of the grader is mounted: the image
holds the runner (checked by digest at start); an offline image (see `image.py`) gets the Python
packages as a read-only bind mount of this interpreter's site-packages.
"""
from __future__ import annotations

import os
import selectors
import socket
import threading
from dataclasses import dataclass

from .base import Limits, Running, Sandbox, SandboxUnavailable, Usage, student_environment

LABEL = "grader.sandbox"             # every container we start carries it (the reaper looks for it)
RUNNER_PATH = "/opt/grader"          # where images hold student_runner.py and wire.py
RUNTIME_PATH = "/usr/local/lib/python3.11/dist-packages"   # on Debian's sys.path, also under -I
RUNTIME_LABEL = "grader.runtime"     # "mounted": the image expects the packages as a bind mount
RUNNER_LABEL = "grader.runner"       # digest of the runner an offline image was built with
USER = "65534:65534"                 # nobody
TMPFS_MB = 64                        # each of /tmp and /work; tmpfs pages count as memory


@dataclass(frozen=True)
class DockerSettings:
    image: str
    gpus: str               # "" none, "auto", "all", a count ("2") or device ids ("0,1")
    runtime: str | None     # host folder bind-mounted read-only at RUNTIME_PATH, or None


def gpu_request(gpus: str, engine_has_nvidia: bool):
    """The DeviceRequest for a GPU setting, or None for CPU only."""
    from docker.types import DeviceRequest
    gpus = gpus.strip().lower()
    if gpus in ("", "none", "0") or (gpus == "auto" and not engine_has_nvidia):
        return None
    if gpus in ("all", "auto"):
        return DeviceRequest(count=-1, capabilities=[["gpu"]])
    if gpus.isdigit():
        return DeviceRequest(count=int(gpus), capabilities=[["gpu"]])
    return DeviceRequest(device_ids=[g.strip() for g in gpus.split(",") if g.strip()], capabilities=[["gpu"]])


def container_options(limits: Limits, settings: DockerSettings, device_request, owner: dict) -> dict:
    """Keyword arguments for `containers.create`: every isolation choice of the backend, in one place."""
    from docker.types import LogConfig, Ulimit
    mb = 1024 * 1024
    options = dict(
        image=settings.image,
        command=["timeout", "-s", "KILL", str(limits.wall_s),
                 "python3", "-I", "-X", "utf8", f"{RUNNER_PATH}/student_runner.py"],
        stdin_open=True, tty=False, detach=False,    # detach=False: docker-py then sets StdinOnce
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": f"size={TMPFS_MB}m,mode=1777", "/work": f"size={TMPFS_MB}m,uid=65534,gid=65534,mode=700"},
        working_dir="/work",
        user=USER,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit=limits.memory_mb * mb, memswap_limit=limits.memory_mb * mb,
        nano_cpus=int(limits.cpu_threads * 1e9),
        pids_limit=limits.pids,
        ulimits=[Ulimit(name="fsize", soft=limits.file_mb * mb, hard=limits.file_mb * mb),
                 Ulimit(name="core", soft=0, hard=0), Ulimit(name="nofile", soft=1024, hard=1024)],
        environment=student_environment(limits, home="/work", tmpdir="/tmp", user="nobody"),   # PATH: the image's
        log_config=LogConfig(type="none"),      # output reaches us over attach; nothing piles up on disk
        labels={LABEL: "1", **owner},
    )
    if settings.runtime:
        options["volumes"] = {settings.runtime: {"bind": RUNTIME_PATH, "mode": "ro"}}
    if limits.gpu and limits.gpu_device is not None:      # a leased slot: that device only
        from docker.types import DeviceRequest
        options["device_requests"] = [DeviceRequest(device_ids=[limits.gpu_device], capabilities=[["gpu"]])]
    elif device_request is not None and limits.gpu:
        options["device_requests"] = [device_request]
    return options


def this_runtime() -> str:
    """This interpreter's site-packages: what an offline image mounts to run the same libraries."""
    import sysconfig
    return sysconfig.get_paths()["purelib"]


def owner_labels() -> dict:
    return {"grader.host": socket.gethostname(), "grader.pid": str(os.getpid())}


def engine(timeout: int = 30):
    """A connected Docker client, or SandboxUnavailable saying what to do."""
    try:
        import docker
    except ImportError:
        raise SandboxUnavailable("the docker backend needs the `docker` Python package: pip install docker") from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - socket, HTTP and config errors alike
        raise SandboxUnavailable(f"the Docker engine is not reachable ({type(e).__name__}: {e}); start it "
                                 "(`dockerd`) or grade with --backend local") from None


def reap_orphans(client, only_dead_owners: bool = True) -> int:
    """Remove our containers whose grader process is gone (or all of ours, for a starting worker)."""
    host = socket.gethostname()
    removed = 0
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        labels = container.labels or {}
        if only_dead_owners:
            pid = labels.get("grader.pid", "")
            if labels.get("grader.host") != host or not pid.isdigit() or _alive(int(pid)):
                continue
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # noqa: BLE001 - already gone
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, config):
        self.client = engine()
        try:
            image = self.client.images.get(config.docker_image)
        except Exception:  # noqa: BLE001 - ImageNotFound or an engine error
            raise SandboxUnavailable(f"sandbox image {config.docker_image} not found: build it with "
                                     "`grader sandbox build` (offline) or `docker build -f "
                                     "docker/sandbox.Dockerfile .`") from None
        mounted = (image.labels or {}).get(RUNTIME_LABEL) == "mounted"
        self.settings = DockerSettings(config.docker_image, config.docker_gpus,
                                       this_runtime() if mounted else None)
        runtimes = (self.client.info() or {}).get("Runtimes") or {}
        self.device_request = gpu_request(self.settings.gpus, "nvidia" in runtimes)
        reap_orphans(self.client)

    def interpreter(self) -> str:
        return f"python3 of image {self.settings.image}"

    def describe(self) -> dict:
        return {
            "backend": "docker",
            "network": "none (network_mode=none)",
            "processes": "own container, pids limited",
            "files": "read-only image; grader folders not mounted",
            "user": "nobody, no capabilities",
            "device": "gpu requested" if self.device_request is not None else "cpu",
            "image": self.settings.image,
        }

    def start(self, limits: Limits) -> "DockerRunning":
        return DockerRunning(self, limits)

    def own_pids(self) -> set[int]:
        pids: set[int] = set()
        owner = owner_labels()["grader.pid"]
        for container in self.client.containers.list(filters={"label": f"grader.pid={owner}"}):
            try:
                top = container.top(ps_args="-o pid")
                pids.update(int(row[0]) for row in top.get("Processes") or [])
            except Exception:  # noqa: BLE001 - a container that just ended
                continue
        return pids


class DockerRunning(Running):
    """A started container. `stdout` is a pipe fed by a thread that splits Docker's multiplexed
    attach stream (8-byte frame headers) into the protocol (stdout) and the student's prints."""

    def __init__(self, sandbox: DockerSandbox, limits: Limits):
        super().__init__(limits.output_kb * 1024)
        options = container_options(limits, sandbox.settings, sandbox.device_request, owner_labels())
        try:
            self.container = sandbox.client.containers.create(**options)
        except Exception as e:  # noqa: BLE001
            raise SandboxUnavailable(f"could not create a sandbox container: {e}") from None
        self.status: int | None = None
        self.oom_killed = False
        self.memory_mb = limits.memory_mb
        self.client = sandbox.client
        self.cpu_s = 0.0                      # the most the engine counted for its cgroup
        self._counting = threading.Lock()
        self._stop_counting = threading.Event()
        try:
            response = sandbox.client.api.attach_socket(
                self.container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self.sock = getattr(response, "_sock", response)
            self.container.start()
        except Exception as e:  # noqa: BLE001
            self._remove()
            raise SandboxUnavailable(f"could not start the sandbox container: {e}") from None
        read_fd, write_fd = os.pipe()
        self.stdout = os.fdopen(read_fd, "rb", buffering=0)
        self.stdin = _SocketWriter(self.sock)
        self._pump = threading.Thread(target=self._demux, args=(write_fd,), daemon=True)
        self._pump.start()
        threading.Thread(target=self._count_cpu_stream, daemon=True).start()

    def _demux(self, write_fd: int) -> None:
        buffer = b""
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(self.sock, selectors.EVENT_READ)
                while True:
                    sel.select()
                    try:
                        chunk = self.sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        return
                    buffer += chunk
                    pos = 0     # walk the frames by offset: one copy per chunk, however small they are
                    while len(buffer) - pos >= 8:
                        size = int.from_bytes(buffer[pos + 4:pos + 8], "big")
                        if len(buffer) - pos < 8 + size:
                            break
                        stream, payload = buffer[pos], buffer[pos + 8:pos + 8 + size]
                        pos += 8 + size
                        if stream == 1:
                            os.write(write_fd, payload)
                        else:
                            self._keep(payload)
                    buffer = buffer[pos:]
        except OSError:
            return
        finally:
            os.close(write_fd)

    def poll(self) -> int | None:
        if self.status is None:
            try:
                self.container.reload()
                if self.container.status in ("exited", "dead"):
                    state = self.container.attrs.get("State", {})
                    self.oom_killed = bool(state.get("OOMKilled"))
                    self.status = _status(state)
            except Exception:  # noqa: BLE001 - removed under us: it is gone
                self.status = -9
        return self.status

    def exit_note(self) -> str | None:
        return f"out of memory: it used more than {self.memory_mb} MB" if self.oom_killed else None

    def _count(self, stats) -> None:
        usage = ((stats or {}).get("cpu_stats") or {}).get("cpu_usage") or {}
        with self._counting:
            self.cpu_s = max(self.cpu_s, (usage.get("total_usage") or 0) / 1e9)

    def _count_cpu_stream(self) -> None:
        """The engine's stats stream (one frame a second): the cgroup, and its count, are gone
        once the container stops, so a container that ends by itself keeps the last frame's."""
        try:
            for stats in self.client.api.stats(self.container.id, stream=True, decode=True):
                if self._stop_counting.is_set():
                    return
                self._count(stats)
        except Exception:  # noqa: BLE001 - the container is gone: the counting ends with it
            return

    def usage(self) -> Usage:
        """The CPU of the container's cgroup as the engine counts it: the count just before a
        kill or a graceful stop, else the last frame before it ended (at most a second less)."""
        return Usage(cpu_s=round(self.cpu_s, 3))

    def kill(self, graceful: bool = False) -> None:
        if self.status is None:
            try:
                self._count(self.client.api.stats(self.container.id, stream=False, one_shot=True))
            except Exception:  # noqa: BLE001 - stopped or removed: the stream's last frame stands
                pass
        self._stop_counting.set()
        if graceful and self.poll() is None:
            self.stdin.close()          # a runner at rest exits at the end of its input
            try:
                self.status = _status({"ExitCode": self.container.wait(timeout=2)["StatusCode"]})
            except Exception:  # noqa: BLE001 - it did not stop in time: removed below
                pass
        self._remove()
        try:
            self.sock.close()
        except OSError:
            pass

    def _remove(self) -> None:
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def _status(state: dict) -> int:
    """Docker's exit code as a Popen-style status: 137 (killed, e.g. OOM or the wall cap) is -9."""
    code = int(state.get("ExitCode", 0))
    if state.get("OOMKilled") or code == 137:
        return -9
    return -(code - 128) if code > 128 else code


class _SocketWriter:
    """The attach socket's sending half, with the file-like surface the client uses."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

