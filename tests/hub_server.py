"""A small local Hugging Face Hub: the part of its HTTP API that huggingface_hub uses to
read and write models, served on 127.0.0.1 for tests and for trying the app offline.

The app reaches it only through HF_ENDPOINT, exactly as it reaches huggingface.co.
Start it by hand with `python -m tests.hub_server` (see the README).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from tests.hub_state import Commit, HubFile, HubRepo, model_json, now, tags

SORT_KEYS = {"downloads": "downloads", "likes": "likes", "trendingScore": "trendingScore",
             "createdAt": "createdAt", "lastModified": "lastModified"}


class LocalHub:
    """The Hub's state: repos and tokens. `tokens` maps a token to its user name; `grants`
    maps a user to the gated repos they were given access to; `refs` holds each repo's refs other
    than main (branches, tags, pull requests), by full ref."""

    def __init__(self, tokens: dict[str, str] | None = None, grants: dict[str, set[str]] | None = None) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.tokens = tokens or {}
        self.grants = grants or {}
        self.refs: dict[str, dict[str, Commit]] = {}  # repo id → {"refs/tags/v1.0": commit, …}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []  # (method, path) of each request, for tests
        self._server: ThreadingHTTPServer | None = None

    def add_repo(self, repo_id: str, files: dict[str, bytes | Path] | None = None, **meta) -> HubRepo:
        """Add a model repo. meta: downloads, likes, trendingScore, tags, pipeline_tag,
        library_name, gated (False, "auto" or "manual"), private, createdAt, safetensors, cardData."""
        repo = HubRepo(repo_id, meta={"downloads": 0, "likes": 0, "trendingScore": 0, "tags": [], "gated": False,
                                      "private": False, "createdAt": now(), **meta})
        repo.add_commit({path: HubFile.of(c) for path, c in (files or {}).items()}, "initial commit")
        if "lastModified" in meta:
            repo.meta["lastModified"] = meta["lastModified"]
        with self.lock:
            self.repos[repo_id] = repo
        return repo

    def add_ref(self, repo_id: str, ref: str, files: dict[str, bytes | Path] | None = None) -> Commit:
        """A branch (refs/heads/NAME), a tag (refs/tags/NAME) or a pull request (refs/pr/N) of a repo: at main's
        head, or with `files` at a commit of its own, which main's history does not hold (as a PR's commit)."""
        if not re.fullmatch(r"refs/(heads|tags)/[^/]+(/[^/]+)*|refs/pr/[1-9][0-9]*", ref) or ref == "refs/heads/main":
            raise ValueError(f"not a ref this Hub can add: {ref!r}")
        repo = self.repos[repo_id]
        commit = repo.at("main")
        if files:
            changed = {path: HubFile.of(content) for path, content in files.items()}
            digest = hashlib.sha1(f"{repo_id}{ref}{commit.oid}".encode())
            for path in sorted(changed):
                digest.update(path.encode() + changed[path].sha256.encode())
            commit = Commit(digest.hexdigest(), {**commit.files, **changed}, f"commit on {ref}", now())
        with self.lock:
            self.refs.setdefault(repo_id, {})[ref] = commit
        return commit

    def commit_at(self, repo: HubRepo, revision: str) -> Commit | None:
        """What a revision names, as the Hub reads it: main, a branch or a tag by name or by full ref, a pull
        request by its ref (refs/pr/N), or a commit by its id (7 characters or more)."""
        refs = self.refs.get(repo.id, {})
        if revision in ("main", "refs/heads/main"):
            return repo.at("main")
        for ref in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
            if ref in refs:
                return refs[ref]
        found = repo.at(revision)
        if found is None and len(revision) >= 7:
            found = next((c for c in refs.values() if c.oid.startswith(revision)), None)
        return found

    # serving
    def start(self, port: int = 0) -> str:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True).start()
        return self.endpoint

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # access
    def user_of(self, authorization: str | None) -> str | None:
        if authorization and authorization.startswith("Bearer "):
            return self.tokens.get(authorization[len("Bearer "):])
        return None

    def visible(self, repo: HubRepo, user: str | None) -> bool:
        return not repo.meta.get("private") or (user is not None and repo.id.split("/")[0] == user)

    def may_download(self, repo: HubRepo, user: str | None) -> bool:
        if not repo.meta.get("gated"):
            return True
        return user is not None and (repo.id in self.grants.get(user, set()) or repo.id.split("/")[0] == user)


class HubError(Exception):
    def __init__(self, status: int, code: str, message: str, body: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.body = body or {}  # what the Hub sends beside the error, e.g. the url of a repo that exists


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: tests read hub.requests instead
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        self.hub.requests.append((method, path))
        user = self.hub.user_of(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
        try:
            for pattern, handler_method, name in ROUTES:
                # matched before unquoting: a revision comes quoted whole (refs%2Fpr%2F1), its slashes included
                match = re.fullmatch(pattern, url.path)
                if match and handler_method == method.replace("HEAD", "GET"):
                    parts = {k: unquote(v) if v else v for k, v in match.groupdict().items()}
                    return getattr(self, name)(method, user, query, body, **parts)
            raise HubError(404, "EntryNotFound", f"No route {method} {path}")
        except HubError as err:
            self._json({"error": err.message, **err.body}, err.status,
                       {"X-Error-Code": err.code, "X-Error-Message": err.message}, head=method == "HEAD")
        except Exception as err:  # a bug of this server: say so to the client, as the Hub would
            self._json({"error": f"{type(err).__name__}: {err}"}, 500, head=method == "HEAD")
            raise

    # responses
    def _json(self, data, status: int = 200, headers: dict | None = None, head: bool = False) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(raw)

    def _repo(self, repo_id: str, user: str | None) -> HubRepo:
        repo = self.hub.repos.get(repo_id)
        if repo is None or not self.hub.visible(repo, user):
            raise HubError(404, "RepoNotFound", f"Repository Not Found for url: {self.path}. "
                                                 "Please make sure you specified the correct `repo_id`.")
        return repo

    def _commit(self, repo: HubRepo, revision: str) -> Commit:
        commit = self.hub.commit_at(repo, revision)
        if commit is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit

    # read API
    def list_models(self, method, user, query, body) -> None:
        models = [r for r in self.hub.repos.values() if self.hub.visible(r, user)]
        for term in query.get("search", []):
            models = [r for r in models if term.lower() in r.id.lower()]
        if "author" in query:
            models = [r for r in models if r.id.split("/")[0] == query["author"][0]]
        for tag in query.get("filter", []):
            models = [r for r in models if tag in tags(r) or tag == r.meta.get("library_name")]
        if "pipeline_tag" in query:
            models = [r for r in models if r.meta.get("pipeline_tag") == query["pipeline_tag"][0]]
        if "sort" in query:
            key = SORT_KEYS.get(query["sort"][0])
            if key is None:
                raise HubError(400, "BadRequest", f"Invalid sort parameter: {query['sort'][0]}")
            descending = query.get("direction", ["-1"])[0] != "1"
            models.sort(key=lambda r: r.meta.get(key) or 0, reverse=descending)
        limit = int(query.get("limit", [1000])[0])
        expand = query.get("expand") or query.get("expand[]")
        full = query.get("full", ["false"])[0].lower() == "true"
        self._json([model_json(r, r.at("main"), expand, full=full) for r in models[:limit]])

    def model_info(self, method, user, query, body, repo_id, revision="main") -> None:
        repo = self._repo(repo_id, user)
        commit = self._commit(repo, revision)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        self._json(model_json(repo, commit, query.get("expand") or query.get("expand[]"), full=True, blobs=blobs))

    def refs(self, method, user, query, body, repo_id) -> None:
        """Branches and tags, and pull requests when asked for (include_prs=1), as the Hub lists them."""
        repo = self._repo(repo_id, user)
        refs = {"refs/heads/main": repo.at("main"), **self.hub.refs.get(repo.id, {})}

        def listed(prefix: str, cut: int) -> list[dict]:
            return [{"name": ref[cut:], "ref": ref, "targetCommit": commit.oid}
                    for ref, commit in refs.items() if ref.startswith(prefix)]

        data = {"branches": listed("refs/heads/", len("refs/heads/")), "converts": [],
                "tags": listed("refs/tags/", len("refs/tags/"))}
        if query.get("include_prs", ["0"])[0].lower() in ("1", "true"):
            data["pullRequests"] = listed("refs/pr/", len("refs/"))  # named pr/N; clients read `ref`
        self._json(data)

    def tree(self, method, user, query, body, repo_id, revision, subpath=None) -> None:
        subpath = subpath or ""
        repo = self._repo(repo_id, user)
        commit = self._commit(repo, revision)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = subpath.strip("/") + "/" if subpath.strip("/") else ""
        entries, folders = [], set()
        for path, f in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    folders.add(prefix + "/".join(parts[:i]))
            entry = {"type": "file", "oid": f.blob_id, "size": f.size, "path": path}
            if f.is_lfs:
                entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
            entries.append(entry)
        entries += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                    for d in sorted(folders)]
        self._json(entries)

    def _check_access(self, repo: HubRepo, user: str | None) -> None:
        if not self.hub.may_download(repo, user):
            message = (f"Access to model {repo.id} is restricted. You must have access to it and be authenticated "
                       "to access it. Please log in.")
            raise HubError(401 if user is None else 403, "GatedRepo", message)

    def auth_check(self, method, user, query, body, repo_id) -> None:
        self._check_access(self._repo(repo_id, user), user)
        self._json({})

    def resolve(self, method, user, query, body, repo_id, revision, filename) -> None:
        repo = self._repo(repo_id, user)
        self._check_access(repo, user)
        commit = self._commit(repo, revision)
        f = commit.files.get(filename)
        if f is None:
            raise HubError(404, "EntryNotFound", f"Entry not found: {filename}")
        etag = f'"{f.sha256 if f.is_lfs else f.blob_id}"'
        start, end, status = 0, f.size - 1, 200
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if ranged and method == "GET":
            start = int(ranged.group(1))
            end = int(ranged.group(2)) if ranged.group(2) else f.size - 1
            if start >= f.size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{f.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1 if method == "GET" else f.size))
        self.send_header("ETag", etag)
        self.send_header("X-Repo-Commit", commit.oid)
        self.send_header("Accept-Ranges", "bytes")
        if f.is_lfs:
            self.send_header("X-Linked-Etag", etag)
            self.send_header("X-Linked-Size", str(f.size))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.end_headers()
        if method == "GET":
            position = start
            while position <= end:
                block = f.read(position, min(end, position + (1 << 20) - 1))
                self.wfile.write(block)
                position += len(block)
            if repo.meta.get("count_downloads", True):
                repo.meta["downloads"] = repo.meta.get("downloads", 0) + (filename == "config.json")

    def whoami(self, method, user, query, body) -> None:
        if user is None:
            raise HubError(401, "Unauthorized", "Invalid credentials in Authorization header")
        self._json({"type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user,
                    "fullname": user.title(), "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}}})

    # write API
    def create_repo(self, method, user, query, body) -> None:
        if user is None:
            raise HubError(401, "Unauthorized", "You must be authenticated to create a repo")
        spec = json.loads(body or b"{}")
        repo_id = f"{spec.get('organization') or user}/{spec['name']}"
        if repo_id.split("/")[0] != user:
            raise HubError(403, "Forbidden", f"You cannot create a repo in {repo_id.split('/')[0]}")
        if repo_id in self.hub.repos:
            # the Hub names the repo that exists: create_repo(exist_ok=True) returns its url
            raise HubError(409, "RepoExists", "You already created this model repo",
                           {"url": f"{self.hub.endpoint}/{repo_id}"})
        self.hub.add_repo(repo_id, {".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n"},
                          private=bool(spec.get("private")) or spec.get("visibility") == "private")
        self._json({"url": f"{self.hub.endpoint}/{repo_id}", "name": repo_id, "id": repo_id})

    def validate_yaml(self, method, user, query, body) -> None:
        """The Hub checks a model card's front matter; a card that is not YAML is refused."""
        content = json.loads(body).get("content", "")
        if content.startswith("---") and content.count("---") < 2:
            raise HubError(400, "BadRequest", "The model card's metadata block is not closed by ---")
        self._json({"errors": [], "warnings": []})

    def preupload(self, method, user, query, body, repo_id, revision) -> None:
        self._writable(repo_id, user)
        files = json.loads(body).get("files", [])
        # every file goes in the commit itself ("regular"): no LFS batch server is needed
        self._json({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files],
                    "commitOid": self._commit(self.hub.repos[repo_id], revision).oid})

    def commit(self, method, user, query, body, repo_id, revision) -> None:
        repo = self._writable(repo_id, user)
        header, files, deleted = {}, {}, []
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                header = item["value"]
            elif item["key"] == "file":
                value = item["value"]
                content = base64.b64decode(value["content"]) if value.get("encoding") == "base64" \
                    else value["content"].encode()
                files[value["path"]] = HubFile.of(content)
            elif item["key"] in ("deletedFile", "deletedFolder"):
                deleted.append(item["value"]["path"])
            else:
                raise HubError(400, "BadRequest", f"This local Hub does not take '{item['key']}' operations")
        with self.hub.lock:
            commit = repo.add_commit(files, header.get("summary", "commit"), tuple(deleted))
        self._json({"success": True, "commitOid": commit.oid,
                    "commitUrl": f"{self.hub.endpoint}/{repo_id}/commit/{commit.oid}",
                    "hookOutput": ""})

    def _writable(self, repo_id: str, user: str | None) -> HubRepo:
        repo = self._repo(repo_id, user)
        if user is None or repo_id.split("/")[0] != user:
            raise HubError(403, "Forbidden", f"You have no write access to {repo_id}")
        return repo


_REPO = r"(?P<repo_id>[^/]+/[^/]+)"
ROUTES = [
    (r"/api/models/?", "GET", "list_models"),
    (rf"/api/models/{_REPO}", "GET", "model_info"),
    (rf"/api/models/{_REPO}/revision/(?P<revision>[^/]+)", "GET", "model_info"),
    (rf"/api/models/{_REPO}/refs", "GET", "refs"),
    (rf"/api/models/{_REPO}/tree/(?P<revision>[^/]+)(?P<subpath>/.*)?", "GET", "tree"),
    (rf"/{_REPO}/resolve/(?P<revision>[^/]+)/(?P<filename>.+)", "GET", "resolve"),
    (rf"/api/models/{_REPO}/auth-check", "GET", "auth_check"),
    (r"/api/whoami-v2", "GET", "whoami"),
    (r"/api/repos/create", "POST", "create_repo"),
    (r"/api/validate-yaml", "POST", "validate_yaml"),
    (rf"/api/models/{_REPO}/preupload/(?P<revision>[^/]+)", "POST", "preupload"),
    (rf"/api/models/{_REPO}/commit/(?P<revision>[^/]+)", "POST", "commit"),
]


def main() -> None:
    """Serve the test models as a local Hub, for trying the app offline."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.hub_server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    from tests.models import populate

    hub = LocalHub(tokens={"hf_test_token": "tester"})
    populate(hub)
    hub.start(args.port)
    print(f"Local Hub on {hub.endpoint} with {len(hub.repos)} models; token hf_test_token (user 'tester').")
    print(f"Start the app against it:  HF_ENDPOINT={hub.endpoint} make run")
    threading.Event().wait()


if __name__ == "__main__":
    main()
