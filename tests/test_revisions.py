"""Revisions (issue 16): a shared deployment fetches only branches and tags, never a pull request or a bare
commit, and a revision other than main gets a local id of its own. The real huggingface_hub client against a
local Hub of this module's own, with a tiny OpenVINO repo that has a branch, a tag and a pull request."""

from __future__ import annotations

import hashlib
import json

import pytest

from genai_ui.errors import InvalidParameter, NotAllowed, UserError
from genai_ui.hub.downloads import download_model, with_revision

pytestmark = pytest.mark.layer("engine")  # real engines, subprocesses or a Hub of its own

REPO = "someone/Tiny-int4-ov"
REFUSED = (r"^On this shared deployment only a branch or a tag of the repo can be fetched "
           r"\(branches: main, dev; tags: v1\.0\): '{}' is neither\. Pull requests \(refs/pr/N\) and single commits "
           r"can be fetched only when the app runs locally\.$")


@pytest.fixture(scope="module")
def own_hub():
    from tests.hub_server import LocalHub

    hub = LocalHub()
    config = json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                         "max_position_embeddings": 2048}).encode()
    hub.add_repo(REPO, {"config.json": config, "openvino_model.xml": b"<net name='main'/>",
                        "openvino_model.bin": b"\0" * 64, "README.md": b"# Tiny"},
                 pipeline_tag="text-generation", library_name="openvino", tags=["openvino", "llama"])
    hub.add_ref(REPO, "refs/heads/dev", {"openvino_model.xml": b"<net name='dev'/>"})
    hub.add_ref(REPO, "refs/tags/v1.0", {"openvino_model.xml": b"<net name='v1.0'/>"})
    hub.add_ref(REPO, "refs/pr/1", {"openvino_model.xml": b"<net name='a stranger's proposal'/>"})
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_server(own_hub):
    return own_hub


def fetch(hub, library, tmp_path, revision, shared=False):
    return download_model(hub=hub, library=library, repo_id=REPO, revision=revision, cache_dir=tmp_path / "hf",
                          shared=shared)


def network(entry) -> bytes:
    return (entry.load_path / "openvino_model.xml").read_bytes()


def test_the_local_hub_lists_refs_as_the_hub_does(own_hub):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=own_hub.endpoint, token=False)
    refs = api.list_repo_refs(REPO)
    assert [(r.name, r.ref) for r in refs.branches] == [("main", "refs/heads/main"), ("dev", "refs/heads/dev")]
    assert [(r.name, r.ref) for r in refs.tags] == [("v1.0", "refs/tags/v1.0")] and refs.converts == []
    assert refs.pull_requests is None  # asked for only with include_pull_requests
    (pr,) = api.list_repo_refs(REPO, include_pull_requests=True).pull_requests
    assert pr.ref == "refs/pr/1" and pr.target_commit == own_hub.refs[REPO]["refs/pr/1"].oid
    assert refs.branches[0].target_commit == api.model_info(REPO).sha != refs.tags[0].target_commit
    for revision in ("v1.0", "refs/tags/v1.0", refs.tags[0].target_commit):  # quoted whole, slashes included
        assert api.model_info(REPO, revision=revision).sha == refs.tags[0].target_commit


@pytest.mark.parametrize("revision", ["refs/pr/1", "pr-commit", "main-commit", "refs/pr/2", "v9"])
def test_a_shared_deployment_refuses_what_is_not_a_branch_or_a_tag(hub, library, tmp_path, own_hub, revision):
    revision = {"pr-commit": own_hub.refs[REPO]["refs/pr/1"].oid,
                "main-commit": own_hub.repos[REPO].at("main").oid}.get(revision, revision)
    asked = len(own_hub.requests)
    with pytest.raises(NotAllowed, match=REFUSED.format(revision)):
        fetch(hub, library, tmp_path, revision, shared=True)
    assert library.list() == []
    # refused from the list of refs alone: not one look at what the revision holds
    assert [path for _, path in own_hub.requests[asked:]] == [f"/api/models/{REPO}/refs"]


@pytest.mark.parametrize("revision, local_id, name", [
    ("v1.0", "Tiny-int4-ov-rev-v1.0", b"v1.0"), ("refs/tags/v1.0", "Tiny-int4-ov-rev-v1.0", b"v1.0"),
    ("dev", "Tiny-int4-ov-rev-dev", b"dev"), ("refs/heads/dev", "Tiny-int4-ov-rev-dev", b"dev"),
    ("main", "Tiny-int4-ov", b"main")])
def test_a_shared_deployment_fetches_a_tag_or_a_branch(hub, library, tmp_path, own_hub, revision, local_id, name):
    entry = fetch(hub, library, tmp_path, revision, shared=True)
    assert entry.id == local_id and network(entry) == b"<net name='" + name + b"'/>"
    assert entry.source["repo_id"] == REPO and entry.source["revision"] == revision
    ref = {b"main": None, b"dev": "refs/heads/dev", b"v1.0": "refs/tags/v1.0"}[name]
    assert entry.source["commit"] == (own_hub.refs[REPO][ref] if ref else own_hub.repos[REPO].at("main")).oid


def test_a_local_run_fetches_a_pull_request_and_a_commit(hub, library, tmp_path, own_hub):
    entry = fetch(hub, library, tmp_path, "refs/pr/1")
    assert entry.id == "Tiny-int4-ov-pr-1" and b"a stranger" in network(entry)
    assert entry.source["revision"] == "refs/pr/1" and entry.source["commit"] == own_hub.refs[REPO]["refs/pr/1"].oid
    commit = own_hub.refs[REPO]["refs/heads/dev"].oid
    entry = fetch(hub, library, tmp_path, commit)
    assert entry.id == f"Tiny-int4-ov-rev-{commit[:12]}" and network(entry) == b"<net name='dev'/>"
    assert [e.id for e in library.list()] == ["Tiny-int4-ov-pr-1", f"Tiny-int4-ov-rev-{commit[:12]}"]


def test_a_revision_lives_beside_the_main_model(hub, library, tmp_path, own_hub):
    main = fetch(hub, library, tmp_path, "main")
    tagged = fetch(hub, library, tmp_path, "v1.0")
    assert (main.id, tagged.id) == ("Tiny-int4-ov", "Tiny-int4-ov-rev-v1.0") and main.location != tagged.location
    assert network(library.get(main.id)) == b"<net name='main'/>"  # untouched by the tag's files
    assert network(library.get(tagged.id)) == b"<net name='v1.0'/>"
    asked = len(own_hub.requests)
    again = fetch(hub, library, tmp_path, "refs/tags/v1.0", shared=True)  # the same tag, named in full
    assert again == library.get(tagged.id)  # what is there is returned at once
    assert not any("/resolve/" in path for _, path in own_hub.requests[asked:])
    assert [e.id for e in library.list()] == ["Tiny-int4-ov", "Tiny-int4-ov-rev-v1.0"]


def test_another_revision_under_the_same_id_is_not_taken_for_it(hub, library, tmp_path, own_hub):
    own_hub.add_ref(REPO, "refs/heads/v1/0")  # "v1/0" and "v1-0" make the same id
    own_hub.add_ref(REPO, "refs/heads/v1-0")
    try:
        assert fetch(hub, library, tmp_path, "v1/0").id == "Tiny-int4-ov-rev-v1-0"
        with pytest.raises(UserError, match="^Another model named 'Tiny-int4-ov-rev-v1-0' is already in the library"):
            fetch(hub, library, tmp_path, "v1-0")
    finally:
        for ref in ("refs/heads/v1/0", "refs/heads/v1-0"):
            del own_hub.refs[REPO][ref]


def test_an_unknown_revision_is_named(hub, library, tmp_path):
    with pytest.raises(InvalidParameter, match=f"^{REPO} has no revision 'v9'.$"):
        fetch(hub, library, tmp_path, "v9")
    with pytest.raises(InvalidParameter, match=f"^{REPO} has no revision 'refs/pr/7'.$"):
        fetch(hub, library, tmp_path, "refs/pr/7")
    with pytest.raises(InvalidParameter, match="^No model 'someone/nothing' on the Hub"):
        download_model(hub=hub, library=library, repo_id="someone/nothing", revision="v1.0", shared=True)
    assert library.list() == []


@pytest.mark.parametrize("revision, local_id", [
    ("main", "M"), ("refs/heads/main", "M"), ("refs/pr/3", "M-pr-3"), ("v1.0", "M-rev-v1.0"),
    ("refs/tags/v1.0", "M-rev-v1.0"), ("refs/tags/main", "M-rev-main"), ("feature/x y", "M-rev-feature-x-y"),
    ("a..b", "M-rev-a.b"), ("--", "M-rev-" + hashlib.sha1(b"--").hexdigest()[:8]),
    ("0123456789abcdef0123456789abcdef01234567", "M-rev-0123456789ab")])
def test_revision_ids(revision, local_id):
    assert with_revision("M", revision) == local_id


def test_a_long_name_and_revision_still_make_an_id():
    made = with_revision("x" * 100, "b" * 60)
    assert len(made) == 128 and made.endswith("-rev-" + "b" * 40)


def test_the_api_of_a_shared_app_refuses_a_pull_request(tmp_path, gguf, own_hub):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from genai_ui.services import create_services
    from genai_ui.settings import Settings
    from tests.apps import launched

    services = create_services(Settings(home=tmp_path, host="0.0.0.0", hub_endpoint=own_hub.endpoint))
    with launched(services) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="only a branch or a tag of the repo can be fetched"):
            client.predict(REPO, "refs/pr/1", api_name="/download_model")
        assert client.predict(REPO, "v1.0", api_name="/download_model")["id"] == "Tiny-int4-ov-rev-v1.0"
