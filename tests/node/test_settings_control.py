"""The control plane's settings: lunge serve (LUNGE_SERVE_*, LUNGE_ADMIN_TOKEN) and the API client
(LUNGE_API_URL / LUNGE_API_TOKEN with FAST's WALLARM_* aliases)."""

from __future__ import annotations

import pytest

from lunge.errors import SettingError
from lunge.node.settings import api_settings, serve_settings, shard_size


def test_serve_defaults_and_variables(tmp_path) -> None:
    env = {"LUNGE_DATA_DIR": str(tmp_path)}
    config = serve_settings({}, env)
    assert (config.bind, config.port, config.admin_token) == ("127.0.0.1", 8000, None)
    assert config.db_url == f"sqlite:///{tmp_path / 'lunge.db'}"
    env |= {"LUNGE_SERVE_BIND": "0.0.0.0", "LUNGE_SERVE_PORT": "9001", "LUNGE_ADMIN_TOKEN": "a" * 32,
            "LUNGE_DB": "postgresql+psycopg://u@db/lunge", "LUNGE_SERVE_MAX_BODY": "4096"}
    config = serve_settings({"port": "9002"}, env)
    assert (config.bind, config.port, config.admin_token, config.max_body) == ("0.0.0.0", 9002, "a" * 32, 4096)
    assert config.db_url == "postgresql+psycopg://u@db/lunge"
    assert (config.reap_every_s, config.reap_grace_s) == (10.0, 90.0)
    config = serve_settings({}, env | {"LUNGE_SERVE_REAP_EVERY": "2.5", "LUNGE_SERVE_REAP_GRACE": "0"})
    assert (config.reap_every_s, config.reap_grace_s) == (2.5, 0.0)


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("LUNGE_SERVE_PORT", "70000", "70000"),
    ("LUNGE_SERVE_MAX_BODY", "10", "10"),
    ("LUNGE_SERVE_REAP_EVERY", "0", "0"),
    ("LUNGE_SERVE_REAP_GRACE", "nan", "nan"),
    ("LUNGE_SERVE_REAP_GRACE", "soon", "soon"),
    ("LUNGE_ADMIN_TOKEN", "short-secret", "****"),  # a secret is never repeated in the message
])
def test_serve_refuses_bad_values(tmp_path, name: str, value: str, shown: str) -> None:
    with pytest.raises(SettingError) as caught:
        serve_settings({}, {"LUNGE_DATA_DIR": str(tmp_path), name: value})
    assert caught.value.name == name and caught.value.value == shown
    assert value not in str(caught.value) or value == shown


def test_api_settings_take_fast_aliases() -> None:
    fast = api_settings({}, {"WALLARM_API_HOST": "lunge.internal", "WALLARM_API_TOKEN": "t1"})
    assert (fast.url, fast.token) == ("https://lunge.internal", "t1")
    own = api_settings({}, {"LUNGE_API_URL": "http://127.0.0.1:8000/", "WALLARM_API_HOST": "x", "LUNGE_API_TOKEN": "t"})
    assert own.url == "http://127.0.0.1:8000"
    assert api_settings({"api_url": "http://a:1", "token": "f"}, {}).token == "f"
    with pytest.raises(SettingError, match="LUNGE_API_URL"):
        api_settings({}, {"LUNGE_API_TOKEN": "t"})
    with pytest.raises(SettingError, match="LUNGE_API_TOKEN"):
        api_settings({}, {"LUNGE_API_URL": "http://a:1"})


def test_a_control_plane_without_lunge_db_means_the_remote_store(tmp_path) -> None:
    import urllib.parse

    from lunge.node.settings import store_settings
    from lunge.store.remote import is_remote_url

    env = {"LUNGE_DATA_DIR": str(tmp_path), "LUNGE_API_URL": "http://cp.test:8000", "LUNGE_API_TOKEN": "lunge_abc"}
    remote = store_settings(environ=env).url
    assert is_remote_url(remote) and "cp.test:8000" in remote
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(remote).query)["spool"] == [str(tmp_path / "spool")]
    assert store_settings(environ={**env, "LUNGE_DB": "sqlite:///x.db"}).url == "sqlite:///x.db"
    assert store_settings(environ=env, remote=False).url.startswith("sqlite:///")
    fast = {"LUNGE_DATA_DIR": str(tmp_path), "WALLARM_API_HOST": "cp.test", "WALLARM_API_TOKEN": "lunge_abc"}
    assert store_settings(environ=fast).url.startswith("lunge+https://")
    with pytest.raises(SettingError, match="LUNGE_API_TOKEN"):
        store_settings(environ={"LUNGE_DATA_DIR": str(tmp_path), "LUNGE_API_URL": "http://cp.test"})


def test_shard_size_default_variable_and_bad_values() -> None:
    assert shard_size({}, {}) == 100
    assert shard_size({}, {"LUNGE_SHARD_SIZE": "25"}) == 25
    for bad in ("0", "lots", "100001"):
        with pytest.raises(SettingError) as caught:
            shard_size({}, {"LUNGE_SHARD_SIZE": bad})
        assert "LUNGE_SHARD_SIZE" in str(caught.value) and bad in str(caught.value)
        assert "1-100000" in str(caught.value)
