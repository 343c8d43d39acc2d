"""Ray addresses: checked before anything starts, ``RAY_ADDRESS`` honoured by a bare ``--ray``,
and an address where no Ray cluster answers refused in one line instead of waiting forever."""

import contextlib
import socket
import threading

import pytest

from simic.cli import main
from simic.common import raysupport
from simic.common.errors import SimicError
from simic.common.raysupport import DEFAULT, LOCAL, check_address, check_reachable, resolve_address


@pytest.mark.parametrize(
    "address", ["local", "auto", "10.0.0.5:6379", "head-node.cluster:6379", "ray://head:10001"]
)
def test_valid_addresses_pass(address):
    assert check_address(address) == address


@pytest.mark.parametrize("address", ["banana", "head", "head:", "head:99999", "http://h:1", ""])
def test_invalid_addresses_are_one_line_naming_the_forms(address):
    with pytest.raises(SimicError, match="is not a Ray address") as info:
        check_address(address, "--ray")
    assert "HOST:PORT" in str(info.value) and "\n" not in str(info.value)


def test_a_near_miss_gets_a_suggestion():
    with pytest.raises(SimicError, match="did you mean 'local'"):
        check_address("locl")


def test_the_default_is_ray_address_if_set_and_local_never_is(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert resolve_address(DEFAULT) == resolve_address(None) == "10.0.0.5:6379"
    assert resolve_address(LOCAL) is None
    monkeypatch.setenv("RAY_ADDRESS", "banana")
    with pytest.raises(SimicError, match="RAY_ADDRESS 'banana' is not a Ray address"):
        resolve_address(None)
    monkeypatch.delenv("RAY_ADDRESS")
    assert resolve_address(DEFAULT) is None


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _listener(reply: bytes | None):
    """A TCP server on a free port that accepts and sends ``reply`` (or nothing at all)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve():
        connection, _ = server.accept()
        with connection:
            if reply is not None:
                connection.recv(64)
                connection.sendall(reply)
            stop.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()


def test_nothing_listening_is_refused_at_once():
    port = _closed_port()
    with pytest.raises(SimicError, match=rf"cannot reach the Ray cluster at '127.0.0.1:{port}'"):
        check_reachable(f"127.0.0.1:{port}")


def test_a_listener_that_is_not_ray_is_refused_within_the_timeout(monkeypatch):
    monkeypatch.setattr(raysupport, "CONNECT_TIMEOUT_S", 0.5)
    with _listener(None) as port, pytest.raises(SimicError, match="not a Ray cluster"):
        check_reachable(f"127.0.0.1:{port}")


def test_a_grpc_server_passes():
    settings = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # an empty HTTP/2 SETTINGS frame
    with _listener(settings) as port:
        check_reachable(f"127.0.0.1:{port}")


def test_evaluate_with_a_bare_ray_uses_ray_address(monkeypatch, capsys):
    port = _closed_port()
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    argv = ["evaluate", "--ray", "--policy", "nogrow", "--episodes", "1"]
    assert main([*argv, "--env-kwargs", "budget=2"]) == 2
    assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in capsys.readouterr().err


def test_a_bad_ray_value_is_one_line(capsys):
    assert main(["evaluate", "--ray", "banana", "--policy", "nogrow"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'banana' is not a Ray address" in err and "\n" not in err


def test_rllib_training_at_an_unreachable_address_leaves_no_folder(tmp_path, capsys):
    run = tmp_path / "R"
    port = _closed_port()
    argv = ["train", "--engine", "rllib", "--address", f"127.0.0.1:{port}", "--out", str(run)]
    assert main([*argv, "--timesteps", "64"]) == 2
    assert "cannot reach the Ray cluster" in capsys.readouterr().err
    assert not run.exists()
