"""The Host protocol, the standalone host, and the `ui` command's argument checks (no server started)."""

from __future__ import annotations

import argparse

import pytest

from lib_stylemix.cli import build_parser
from lib_stylemix.errors import StyleMixError
from lib_stylemix.settings import StyleMixSettings
from lib_stylemix.ui.cli import loopback_host, run
from lib_stylemix.ui.host import NEEDS_WEBUI, Host, StandaloneHost
from tests.ui.conftest import FakeWebuiHost


def test_standalone_host_cannot_generate(tmp_path):
    host = StandaloneHost(tmp_path)
    assert isinstance(host, Host)
    assert host.label == "standalone"
    assert host.can_generate() == NEEDS_WEBUI
    with pytest.raises(StyleMixError, match="needs the Stable Diffusion WebUI"):
        host.txt2img_generator()
    with pytest.raises(StyleMixError, match="needs the Stable Diffusion WebUI"):
        host.restyle_generator()
    assert host.lora_registry().folder() == tmp_path
    assert host.settings() == StyleMixSettings()
    assert host.current_checkpoint() is None and host.checkpoint_arch() is None
    assert not host.cancel_token().cancelled()

    def handler():
        return 1

    assert host.wrap_gpu(handler) is handler


def test_fake_webui_host_satisfies_protocol(tmp_path):
    assert isinstance(FakeWebuiHost(tmp_path), Host)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "127.0.0.5"])
def test_loopback_addresses_are_accepted(address):
    assert loopback_host(address) == address


def test_localhost_means_ipv4_loopback():
    assert loopback_host("localhost") == "127.0.0.1"


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_other_addresses_are_refused(address):
    with pytest.raises(StyleMixError, match="--host"):
        loopback_host(address)


def test_ui_command_is_registered():
    args = build_parser().parse_args(["ui", "--port", "7999", "--lora-dir", "x"])
    assert args.func is run and args.port == 7999 and str(args.lora_dir) == "x" and args.host == "127.0.0.1"


def test_bad_port_and_lora_dir_are_user_errors(tmp_path):
    with pytest.raises(StyleMixError, match="not a valid port"):
        run(argparse.Namespace(host="127.0.0.1", port=0, lora_dir=tmp_path))
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(StyleMixError, match="not a folder"):
        run(argparse.Namespace(host="127.0.0.1", port=7001, lora_dir=not_a_folder))


def test_port_in_use_is_a_user_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StyleMixError, match=f"--port {port}: cannot listen"):
            run(argparse.Namespace(host="127.0.0.1", port=port, lora_dir=tmp_path))
