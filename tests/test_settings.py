from pathlib import Path

import pytest

from genai_ui.settings import Settings


def test_defaults_from_environment(tmp_path):
    s = Settings.from_args([], env={"GENAI_UI_HOME": str(tmp_path), "GRADIO_SERVER_PORT": "7999",
                                    "GRADIO_SERVER_NAME": "0.0.0.0"})
    assert s.home == tmp_path and s.port == 7999 and s.host == "0.0.0.0"
    assert s.device == "CPU" and not s.share and not s.mcp
    assert s.models_dir == tmp_path / "models"


def test_flags_win_over_environment(tmp_path):
    s = Settings.from_args(["--home", str(tmp_path / "h"), "--port", "8000", "--device", "gpu", "--share", "--mcp",
                            "--host", "0.0.0.0"], env={"GENAI_UI_HOME": "/elsewhere", "GRADIO_SERVER_PORT": "7999"})
    assert s.home == tmp_path / "h" and s.port == 8000 and s.device == "GPU"
    assert s.share and s.mcp and s.host == "0.0.0.0"


def test_home_defaults_to_user_cache():
    s = Settings.from_args([], env={})
    assert s.home == Path.home() / ".cache" / "genai_ui"


def test_hub_settings_come_from_the_huggingface_environment(tmp_path):
    s = Settings.from_args([], env={"HF_ENDPOINT": "http://127.0.0.1:9999", "HF_HUB_OFFLINE": "1",
                                    "HF_TOKEN": "hf_secret_value", "GENAI_UI_HOME": str(tmp_path)})
    assert s.hub_endpoint == "http://127.0.0.1:9999" and s.offline is True and s.hf_token == "hf_secret_value"
    assert "hf_secret_value" not in repr(s)
    assert Settings.from_args([], env={"HF_HUB_OFFLINE": "0"}).offline is False
    assert Settings.from_args([], env={}).hub_endpoint == "https://huggingface.co"


def test_the_token_is_no_flag():
    import pytest

    with pytest.raises(SystemExit):
        Settings.from_args(["--hf-token", "x"], env={})


def test_remote_servers_are_repeatable_and_their_keys_stay_out_of_sight():
    from genai_ui.engines.remote import parse_remotes

    settings = Settings.from_args(["--remote", "http://a:1/v1/ sk-one", "--remote", "https://b.example/v3"], env={})
    assert [(r.url, r.key, r.name) for r in parse_remotes(settings.remote)] == [
        ("http://a:1/v1", "sk-one", "a:1"), ("https://b.example/v3", "", "b.example")]
    assert "sk-one" not in repr(settings) and "sk-one" not in repr(parse_remotes(settings.remote))
    assert Settings.from_args([], env={"GENAI_UI_REMOTE": "http://c:2/v1 k"}).remote == "http://c:2/v1 k"
    with pytest.raises(ValueError, match="http\\(s\\) URL"):
        parse_remotes("ftp://a/v1")
