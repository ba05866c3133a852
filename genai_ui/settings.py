"""Settings: read once from flags and environment, then passed down; never global."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping, Sequence


def _default_home(env: Mapping[str, str]) -> Path:
    if env.get("GENAI_UI_HOME"):
        return Path(env["GENAI_UI_HOME"])
    if Path("/data").is_dir() and env.get("SPACE_ID"):  # a Space with persistent storage
        return Path("/data/genai_ui")
    return Path.home() / ".cache" / "genai_ui"


def _flag(help: str, env: str | None = None, cli: bool = True, repeat: bool = False) -> dict:
    return {"help": help, "env": env, "cli": cli, "repeat": repeat}


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: _default_home(os.environ),
                       metadata=_flag("folder of the model library and caches", "GENAI_UI_HOME"))
    device: str = field(default="CPU", metadata=_flag("default device (CPU, GPU, NPU, AUTO)", "GENAI_UI_DEVICE"))
    host: str = field(default="127.0.0.1", metadata=_flag("address to serve on", "GRADIO_SERVER_NAME"))
    port: int = field(default=7860, metadata=_flag("port to serve on", "GRADIO_SERVER_PORT"))
    share: bool = field(default=False, metadata=_flag("also serve on a public share link"))
    mcp: bool = field(default=False, metadata=_flag("expose every endpoint as an MCP tool"))
    hub_endpoint: str = field(default="https://huggingface.co",
                              metadata=_flag("the Hugging Face Hub to search and download from", "HF_ENDPOINT"))
    offline: bool = field(default=False, metadata=_flag("never reach the Hub (HF_HUB_OFFLINE=1)", "HF_HUB_OFFLINE"))
    # the operator's token: from the environment only, never a flag (flags show in `ps`), never shown
    hf_token: str = field(default="", repr=False, metadata=_flag("Hugging Face token", "HF_TOKEN", cli=False))
    auth: str = field(default="", repr=False, metadata=_flag(
        "require a login, as user:password (several separated by commas); GENAI_UI_AUTH keeps it out of `ps`",
        "GENAI_UI_AUTH"))
    api_key: str = field(default="", repr=False, metadata=_flag(
        "the key an OpenAI client sends to /v1 (Authorization: Bearer); without one, /v1 answers this machine's own "
        "user only; GENAI_UI_API_KEY keeps it out of `ps`", "GENAI_UI_API_KEY"))
    remote: str = field(default="", repr=False, metadata=_flag(
        "an OpenAI-compatible server whose chat and vision models the Chat and Vision tabs list too: its API's URL "
        "(http://host:8000/v1; OpenVINO Model Server: /v3), then a space and its key if it needs one; repeatable; "
        "GENAI_UI_REMOTE (entries separated by commas) keeps keys out of `ps`", "GENAI_UI_REMOTE", repeat=True))
    allow_remote_code: bool = field(default=False, metadata=_flag(
        "let visitors of a shared deployment convert repos that need trust_remote_code", "GENAI_UI_ALLOW_REMOTE_CODE"))
    allow_engine_options: bool = field(default=False, metadata=_flag(
        "let visitors of a shared deployment change how the engine runs a chat model (it is everyone's)",
        "GENAI_UI_ALLOW_ENGINE_OPTIONS"))
    no_auto_tune: bool = field(
        default_factory=lambda: os.environ.get("GENAI_UI_NO_AUTO_TUNE", "").strip().lower() in ("1", "true", "yes"),
        metadata=_flag("never tune a chat model in the background at its first load on a device (Tune in the "
                       "Benchmark tab still does)", "GENAI_UI_NO_AUTO_TUNE"))
    queue_size: int = field(default=4, metadata=_flag(
        "conversions (and downloads) that may wait in line behind the running one; more are refused",
        "GENAI_UI_QUEUE_SIZE"))
    max_upload_mb: int = field(default=200, metadata=_flag("the largest file a visitor may upload, in MB",
                                                           "GENAI_UI_MAX_UPLOAD_MB"))
    cache_hours: float = field(default=24.0, metadata=_flag(
        "uploads and outputs in Gradio's cache are deleted once this old (and all of them when the app stops)",
        "GENAI_UI_CACHE_HOURS"))
    shared: bool = field(default=False, metadata=_flag(
        "serve others (behind a proxy): every request follows the shared deployment's rules", "GENAI_UI_SHARED"))
    operators: str = field(default="", metadata=_flag(
        "Hugging Face accounts or --auth users who run this shared deployment (comma-separated); on a Space its "
        "owner is one", "GENAI_UI_OPERATORS"))
    space_id: str = field(default="", metadata=_flag("the Hugging Face Space this runs in", "SPACE_ID", cli=False))
    space_author: str = field(default="", metadata=_flag("the Space's owner", "SPACE_AUTHOR_NAME", cli=False))

    @property
    def delete_cache(self) -> tuple[int, int]:
        """Gradio's delete_cache: (how often to look, in seconds; the age at which a file goes)."""
        age = max(1, round(self.cache_hours * 3600))
        return min(3600, age), age

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        object.__setattr__(self, "device", self.device.upper())

    @property
    def on_space(self) -> bool:
        return bool(self.space_id)

    @property
    def public(self) -> bool:
        """Served to others than this machine's user: --shared, a Space, a share link, or an address
        other than the loopback one. A request can still be shared on an app that is not (access.py)."""
        return self.shared or self.on_space or self.share or self.host not in ("127.0.0.1", "localhost", "::1")

    def operator_names(self) -> frozenset[str]:
        names = {n.strip() for n in self.operators.split(",") if n.strip()}
        return frozenset(names | ({self.space_author} if self.on_space and self.space_author else set()))

    @property
    def remote_code_allowed(self) -> bool:
        return self.allow_remote_code or not self.public

    @property
    def engine_options_allowed(self) -> bool:
        return self.allow_engine_options or not self.public

    def logins(self) -> list[tuple[str, str]]:
        """(user, password) pairs of --auth; a malformed entry is refused by name, without the password."""
        pairs = []
        for item in filter(None, (part.strip() for part in self.auth.split(","))):
            user, sep, password = item.partition(":")
            if not sep or not user or not password:
                raise ValueError(f"--auth takes user:password; the entry for '{user or '?'}' has no password")
            pairs.append((user, password))
        return pairs

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def compile_cache_dir(self) -> Path:
        """OpenVINO's compiled models: a second load of a model on a device skips compiling."""
        return self.home / "cache" / "compiled"

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> "Settings":
        """Flags win over environment variables, which win over defaults."""
        env = os.environ if env is None else env
        parser = argparse.ArgumentParser(prog="app.py", description="genai_ui: run Hub models with OpenVINO.")
        for f in fields(cls):
            if not f.metadata["cli"]:
                continue
            flag = "--" + f.name.replace("_", "-")
            if f.type in (bool, "bool"):
                parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
            elif f.metadata["repeat"]:
                parser.add_argument(flag, action="append", default=None, help=f.metadata["help"])
            else:
                parser.add_argument(flag, default=None, help=f.metadata["help"])
        args = vars(parser.parse_args(argv))
        values = {}
        for f in fields(cls):
            value = args.get(f.name)
            if isinstance(value, list):  # a repeated flag: its entries, as the variable holds them
                value = ",".join(value)
            if value is None and f.metadata.get("env") and env.get(f.metadata["env"]):
                value = env[f.metadata["env"]]
            if value is None:
                continue
            if f.type in (bool, "bool") and isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "yes", "on")
            kind = {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__)
            try:
                values[f.name] = kind(value) if kind else value
            except ValueError:
                parser.error(f"--{f.name.replace('_', '-')} (or {f.metadata.get('env') or 'its variable'}): "
                             f"{value!r} is not a number")
        if "home" not in values:
            values["home"] = _default_home(env)
        return cls(**values)
