"""tools.jupyter_nodelay: every kernel websocket turns Nagle's algorithm off as it opens,
before jupyter_server's own open runs, and loading the extension twice wraps it once."""

import logging
from types import SimpleNamespace

import pytest
from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

from tools import jupyter_nodelay


def test_kernel_websockets_open_without_nagle(monkeypatch):
    calls = []

    async def server_open(self, kernel_id):
        calls.append(("open", kernel_id))

    monkeypatch.setattr(KernelWebsocketHandler, "open", server_open)
    server = SimpleNamespace(log=logging.getLogger("test"))
    jupyter_nodelay._load_jupyter_server_extension(server)
    jupyter_nodelay._load_jupyter_server_extension(server)  # a second load changes nothing
    handler = SimpleNamespace(set_nodelay=lambda on: calls.append(("nodelay", on)))
    opening = KernelWebsocketHandler.open(handler, "k1")
    with pytest.raises(StopIteration):  # nothing awaits: it runs to the end, with no event loop
        opening.send(None)  # (a test process may already be running one)
    assert calls == [("nodelay", True), ("open", "k1")]


def test_the_extension_names_its_own_module():
    assert jupyter_nodelay._jupyter_server_extension_points() == [
        {"module": "tools.jupyter_nodelay"}
    ]
