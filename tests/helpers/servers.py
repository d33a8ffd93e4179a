"""Services on the loopback interface: a free port, waiting for a server to answer."""
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, seconds: float, what: str) -> None:
    """Wait until ``url``/health answers; kill ``proc`` and raise naming ``what`` when it does not in time."""
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{what} did not start")
            time.sleep(1)
