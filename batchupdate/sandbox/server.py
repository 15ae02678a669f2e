"""Serving the sandbox with uvicorn: in a background thread for tests and --sandbox, or in the foreground."""

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from batchupdate.sandbox.app import create_app
from batchupdate.sandbox.context import Sandbox
from batchupdate.sandbox.faults import FaultScript, RequestStats
from batchupdate.sandbox.settings import SandboxSettings, from_environment
from batchupdate.sandbox.store import Store

STARTUP_TIMEOUT = 10.0


class RunningSandbox:
    """A sandbox serving in a background thread; stop it (or leave the `with` block) to shut it down."""

    def __init__(self, app: Starlette, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.app = app
        self.url = url
        self._server = server
        self._thread = thread

    @property
    def _sandbox(self) -> Sandbox:
        sandbox: Sandbox = self.app.state.sandbox
        return sandbox

    @property
    def store(self) -> Store:
        return self._sandbox.store

    @property
    def stats(self) -> RequestStats:
        return self._sandbox.stats

    @property
    def script(self) -> FaultScript:
        """Where tests script faults: ``sandbox.script.add(fail_write(700001, 503))``."""
        return self._sandbox.script

    def stop(self) -> None:
        """Stop serving, wait for the thread, close the database."""
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT)
        self.store.close()

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start_sandbox(settings: SandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0) -> RunningSandbox:
    """Serve in a background thread (uvicorn), wait until it accepts connections, return it.

    port=0 picks a free port. Without settings: the defaults, playing the readings BATCHUPDATE_SANDBOX_READINGS
    names (how `--sandbox` runs are played under a reading).
    """
    app = create_app(settings or from_environment())
    # Binding here, not in uvicorn, tells us the port at once when port=0 asked for any free one.
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP,
    # and with Nagle on, each reply's body waited for the client's delayed ACK: 40 ms on every request
    # after a connection's first.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            app.state.sandbox.store.close()
            raise RuntimeError(f"the sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    bound_port = listener.getsockname()[1]
    return RunningSandbox(app, server, thread, f"http://{host}:{bound_port}/api")


def serve(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve in the foreground until Ctrl-C (used by `batchupdate sandbox`)."""
    app = create_app(settings)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", lifespan="off")
    finally:
        app.state.sandbox.store.close()
