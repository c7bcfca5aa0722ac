"""Where the proxy may listen: a port in use or an address not of this machine is a SettingError
naming the right variable, before anything starts."""

from __future__ import annotations

import socket

import pytest

from lunge.errors import SettingError
from lunge.record.listen import check_listen
from tests.fixtures.servers import free_port


def test_a_free_port_and_port_zero_pass():
    check_listen("127.0.0.1", free_port())
    check_listen("127.0.0.1", 0)


def test_a_port_in_use_blames_proxy_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingError) as error:
            check_listen("127.0.0.1", port)
    assert error.value.name == "PROXY_PORT" and error.value.value == port


def test_an_address_of_another_machine_blames_the_bind_setting():
    with pytest.raises(SettingError) as error:
        check_listen("192.0.2.1", free_port())  # TEST-NET-1: never an address of this machine
    assert error.value.name == "LUNGE_PROXY_BIND" and error.value.value == "192.0.2.1"
