"""The local Hub's data: repos, their commits and files, and how the Hub's API shows them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class HubFile:
    """A file's content (bytes, or a path on disk for large weights) and its ids."""
    size: int
    sha256: str  # the LFS oid, which is also the ETag of large files
    blob_id: str  # git's blob sha1
    data: bytes | None = None
    source: Path | None = None

    @classmethod
    def of(cls, content: bytes | Path) -> "HubFile":
        if isinstance(content, Path):
            sha, size = hashlib.sha256(), 0
            with open(content, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    sha.update(block)
                    size += len(block)
            blob = hashlib.sha1(f"blob {size}\0".encode() + sha.hexdigest().encode()).hexdigest()
            return cls(size, sha.hexdigest(), blob, source=content)
        blob = hashlib.sha1(f"blob {len(content)}\0".encode() + content).hexdigest()
        return cls(len(content), hashlib.sha256(content).hexdigest(), blob, data=content)

    @property
    def is_lfs(self) -> bool:
        return self.source is not None or self.size > 10_000_000

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        end = self.size - 1 if end is None else min(end, self.size - 1)
        if self.data is not None:
            return self.data[start:end + 1]
        with open(self.source, "rb") as f:
            f.seek(start)
            return f.read(end - start + 1)


@dataclass
class Commit:
    oid: str
    files: dict[str, HubFile]
    summary: str
    date: str
    derived: dict = field(default_factory=dict)  # what is read from the files, once


@dataclass
class HubRepo:
    id: str
    commits: list[Commit] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # downloads, likes, tags, pipeline_tag, gated, …

    def at(self, revision: str) -> Commit | None:
        if revision in ("main", "", None):
            return self.commits[-1] if self.commits else None
        return next((c for c in self.commits if c.oid.startswith(revision) and len(revision) >= 7), None)

    def add_commit(self, files: dict[str, HubFile], summary: str, deleted: tuple[str, ...] = ()) -> Commit:
        base = dict(self.commits[-1].files) if self.commits else {}
        base.update(files)
        for path in deleted:
            base.pop(path, None)
        digest = hashlib.sha1(f"{self.id}{len(self.commits)}{summary}".encode())
        for path in sorted(base):
            digest.update(path.encode() + base[path].sha256.encode())
        commit = Commit(digest.hexdigest(), base, summary, now())
        self.commits.append(commit)
        self.meta["lastModified"] = commit.date
        return commit


def tags(repo: HubRepo) -> list[str]:
    tags = list(repo.meta.get("tags", []))
    for extra in (repo.meta.get("library_name"), repo.meta.get("pipeline_tag")):
        if extra and extra not in tags:
            tags.append(extra)
    return tags


def model_json(repo: HubRepo, commit: Commit, expand: list[str] | None, full: bool = False,
                blobs: bool = False) -> dict:
    meta = repo.meta
    data = {"_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24], "id": repo.id, "modelId": repo.id,
            "author": repo.id.split("/")[0], "sha": commit.oid, "private": meta.get("private", False),
            "gated": meta.get("gated", False), "disabled": False, "downloads": meta.get("downloads", 0),
            "likes": meta.get("likes", 0), "trendingScore": meta.get("trendingScore", 0), "tags": tags(repo),
            "pipeline_tag": meta.get("pipeline_tag"), "library_name": meta.get("library_name"),
            "createdAt": meta.get("createdAt"), "lastModified": meta.get("lastModified")}
    if meta.get("safetensors"):
        data["safetensors"] = meta["safetensors"]
    data["usedStorage"] = meta.get("usedStorage") or sum(f.size for f in commit.files.values())
    if "blocks" not in commit.derived:  # read once per commit: the GGUF header costs 0.1 s
        commit.derived["blocks"] = {"config": hub_config(commit), "gguf": gguf_block(commit),
                                    "cardData": meta.get("cardData") or card_data(commit)}
    data.update({k: v for k, v in commit.derived["blocks"].items() if v})
    if meta.get("gguf"):  # a metadata-only repo states what its (stand-in) files would say
        data["gguf"] = {**(data.get("gguf") or {}), **meta["gguf"]}
    if full or (expand and "siblings" in expand):
        siblings = []
        for path, f in sorted(commit.files.items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(size=f.size, blobId=f.blob_id)
                if f.is_lfs:
                    sibling["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sibling)
        data["siblings"] = siblings
    if expand:
        data = {k: v for k, v in data.items() if k in expand or k in ("id", "_id")}
    return data


def hub_config(commit: Commit) -> dict | None:
    """The Hub's `config` block: architectures and model_type from config.json, or the
    pipeline class of a diffusers repo."""
    if "config.json" in commit.files:
        config = json.loads(commit.files["config.json"].read())
        return {k: config[k] for k in ("architectures", "model_type") if k in config}
    if "model_index.json" in commit.files:
        return {"diffusers": {"_class_name": json.loads(commit.files["model_index.json"].read())["_class_name"]}}
    return None


def gguf_block(commit: Commit) -> dict | None:
    """The Hub's `gguf` block for a repo holding a .gguf file, read from its header."""
    from genai_ui.gguf import read_gguf_info

    files = [f for path, f in sorted(commit.files.items()) if path.endswith(".gguf") and f.source]
    if not files:
        return None
    info = read_gguf_info(files[0].source)
    return {"architecture": info.architecture, "context_length": info.context_length,
            "chat_template": info.metadata.get("tokenizer.chat_template"),
            "total": int(info.metadata.get("general.parameter_count", 0)) or None}


def card_data(commit: Commit) -> dict | None:
    """The front matter of README.md, which the Hub serves as `cardData`."""
    import yaml

    readme = commit.files.get("README.md")
    text = readme.read().decode() if readme else ""
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    return yaml.safe_load(text[3:end]) if end != -1 else None
