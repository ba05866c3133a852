"""Shared fixtures: a library home with the real built-in GGUF, the real services, and the
launched app reached over HTTP exactly as users and gradio_client reach it."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

# The local Hub serves repos under real names (HuggingFaceTB/SmolLM2-135M-Instruct, …): keep what
# the tests download out of the user's own Hugging Face cache. Set before huggingface_hub is
# imported, since it reads HF_HOME then. Removed at exit: each run downloads about 800 MB into it,
# and runs that left it behind once filled a CI disk.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="genai-ui-tests-hf-")
atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)
# No tune in the background at a model's first load (it would take the CPU from the tests); the test of it
# asks for it (Settings.no_auto_tune reads this when a Settings is made, as the apps the tests start do)
os.environ["GENAI_UI_NO_AUTO_TUNE"] = "1"

import pytest

from genai_ui.bench import free_port
from genai_ui.builtin import BUILTIN_ID, builtin_gguf
from genai_ui.services import create_services
from genai_ui.settings import Settings
from tests.apps import launched

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="session")
def gguf() -> Path:
    path = builtin_gguf()
    assert path is not None, "the built-in model is missing: run `make setup`"
    return path


@pytest.fixture(scope="session")
def settings(tmp_path_factory, local_hub) -> Settings:
    home = tmp_path_factory.mktemp("home")
    seed_home(home)
    return Settings(home=home, device="CPU", hub_endpoint=local_hub.endpoint)


def seed_home(home: Path) -> None:
    """What the app makes once in a home, made once for the whole run and shared by every test home: the
    embedding model's export and this machine's measure (the tests that make them: test_machine.py and the
    test models' cache builder)."""
    from genai_ui.embedder import embedder_dir
    from genai_ui.testing.models import embedder_ir, machine_profile

    embedder_dir(home).parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(embedder_ir(), embedder_dir(home), copy_function=os.link)
    (home / "machine.json").write_text(json.dumps(machine_profile()))


@pytest.fixture(scope="session")
def services(settings, gguf):
    services = create_services(settings)
    assert BUILTIN_ID in services.library
    return services


@pytest.fixture(scope="module")
def app_url(services):
    """The app on the session's services, launched for each test module: a test's calls start on an app that
    no earlier module's calls have been through (one session-long app once let a call wait in its queue, never
    started, late in a run; queue_state in a failure's report shows such a queue)."""
    with launched(services) as url:
        yield url


@pytest.fixture
def hub_server(local_hub):
    """The Hub `hub` talks to: the session's local Hub, unless a module serves one of its own."""
    return local_hub


@pytest.fixture
def hub(hub_server):
    from genai_ui.hub.client import HubService

    return HubService(endpoint=hub_server.endpoint)


@pytest.fixture
def library(tmp_path):
    from genai_ui.library import Library

    return Library(tmp_path / "models")


@pytest.fixture(scope="session")
def hubless_app(tmp_path_factory, gguf):
    """The app with a Hub that cannot be reached, on its own home."""
    services = create_services(Settings(home=tmp_path_factory.mktemp("hubless"), device="CPU",
                                        hub_endpoint=f"http://127.0.0.1:{free_port()}"))
    with launched(services) as url:
        yield url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test-setup` installs it, never a downloaded browser
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a test camera


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """A browser test that fails leaves a screenshot of each page it had open in
    test-output/failures/ and the pages' toasts and chat in its report, so a failure seen once in CI
    can be read afterwards."""
    report = yield
    if report.when == "call" and report.failed:
        from tests.apps import LAUNCHED, queue_state, running_tasks

        try:
            report.sections.append(("gradio queues", "\n".join(queue_state(demo) for demo in list(LAUNCHED))))
            report.sections.append(("event loops' tasks", running_tasks()))
        except Exception as err:  # the report stands without them
            report.sections.append(("gradio queues", repr(err)))
    browser = item.funcargs.get("browser") if report.when == "call" and report.failed else None
    if browser is not None:
        (OUTPUT / "failures").mkdir(parents=True, exist_ok=True)
        pages = [page for context in browser.contexts for page in context.pages]
        for n, page in enumerate(pages):
            try:
                page.screenshot(path=str(OUTPUT / "failures" / f"{item.name}-{n}.png"), full_page=True)
                shown = page.evaluate("() => Array.from(document.querySelectorAll('.toast-body, #chatbot'))"
                                      ".map(e => e.innerText.slice(0, 1500))")
                report.sections.append((f"page {n} ({page.url})", "\n---\n".join(shown)))
            except Exception as err:  # a page already gone says so in the report, the report stands
                report.sections.append(("screenshot", f"page {n}: {err!r}"))
    return report


# The layers, fastest first: `pytest -m unit` runs the pure core in well under a minute. A test's layer is
# the highest that a fixture it uses needs; a module that starts something of its own raises its tests to
# at least a layer with `pytestmark = pytest.mark.layer("engine")`. Each test gets exactly one layer mark.
LAYERS = {
    "unit": "the pure core: no engine, no server, no subprocess of the app's",
    "engine": "the real engines, conversion steps and benches on the test models, and the local Hub",
    "app": "the launched app over HTTP: gradio_client, MCP, the OpenAI client",
    "browser": "the page in Debian's Chromium, driven by Playwright",
}
NEEDS = {
    **dict.fromkeys(("gguf", "settings", "services", "local_hub", "hub_server", "hub", "vision_model",
                     "image_model"), "engine"),
    **dict.fromkeys(("app_url", "client", "hubless_app"), "app"),
    "browser": "browser",
}


def pytest_configure(config):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    for name, what in LAYERS.items():
        config.addinivalue_line("markers", f"{name}: {what}")
    config.addinivalue_line("markers", "layer(name): the lowest layer of a module's tests (they may need a higher one)")


def pytest_collection_modifyitems(config, items):
    order = list(LAYERS)
    for item in items:
        at_least = [m.args[0] for m in item.iter_markers("layer")]
        assert all(name in LAYERS for name in at_least), f"{item.nodeid}: unknown layer in {at_least}"
        assert not any(m.name in LAYERS for m in item.iter_markers()), f"{item.nodeid}: use pytest.mark.layer(...)"
        item.add_marker(max([*at_least, *(NEEDS[f] for f in item.fixturenames if f in NEEDS)], key=order.index,
                            default="unit"))
    first = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: each file's tests keep their order


# `make test` runs the suite on two processes (pytest-xdist's `-n 2`) that take whole test files
# (`--dist loadfile`, pyproject.toml), so a module's fixtures are made once. Each process makes the
# session's fixtures for itself (its own local Hub, app, home and HF_HOME); the test models' cache is
# shared and takes a lock, so a model is built once while the other process waits for it; the tiny LLaVA and
# Stable Diffusion that the app converts are converted by one process, and copied by the other
# (converted_once). The processes take the files in the order of the collection, which starts with these, so
# that both end at about the same time: the longest first (seconds in the fresh run of December 8, on a 2-core
# Xeon that computes in f32, setup included, each file beside the other process's), the rest after them in their own order. The Dockerfile's replay goes first:
# it needs no local Hub, so it runs while the other process builds the test models that every other long
# file needs.
LONGEST_FIRST = [
    "test_dockerfile.py",  # 112
    "test_convert.py",  # 708
    "test_browser_convert.py",  # 302
    "test_engine_options.py",  # 248
    "test_tune.py",  # 121
    "test_documents.py",  # about 95 (48 with the tests added on December 8, about 45)
    "test_divergence.py",  # 80
    "test_chat_engine.py",  # 71
    "test_test_models.py",  # 64
    "test_durability.py",  # 61
    "test_engines.py",  # 52
    "test_browser_tune.py",  # 49
    "test_browser.py",  # 46
    "test_browser_vision.py",  # 14 (here, not last: run last, after the rest of its process's files, its model
    # once took more than a minute to load; not understood yet)
    "test_hub_api.py",  # 41
    "test_shared_deployment.py",  # 41
    "test_bench_history.py",  # 40
    "test_remote.py",  # 39
    "test_openai_api.py",  # 35
    "test_bench_engines.py",  # 32
    "test_many_users.py",  # 32
    "test_bench_load.py",  # 32
    "test_browser_hub.py",  # 31
    "test_bench_api.py",  # 30
    "test_browser_image.py",  # 27
    "test_browser_benchmark.py",  # 26
    "test_browser_engine.py",  # 25
    "test_quality.py",  # 23
    "test_app_cli.py",  # 23
    "test_publish.py",  # 22
    "test_api.py",  # 19
    "test_documents_api.py",  # 16
]


@pytest.fixture(scope="session")
def local_hub():
    """The local Hub with the test models, on a free port of 127.0.0.1."""
    from tests.hub_server import LocalHub
    from tests.models import populate

    hub = LocalHub(tokens={"hf_test_token": "tester", "hf_other_token": "someone"},
                   grants={"tester": {"gated-org/tiny-llava-gated", "gated-org/SmolLM2-135M-Instruct-GGUF"}})
    populate(hub)
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def run_shared(testrun_uid):
    """A folder both test processes of this run share, kept while either uses it: each marks its use, under a
    lock beside the folder, and the last to end removes it."""
    folder = Path(tempfile.gettempdir()) / f"genai-ui-tests-{testrun_uid}"
    lock, using = folder.with_suffix(".lock"), folder / f"{os.getpid()}.using"
    with _locked(lock):
        folder.mkdir(exist_ok=True)
        using.touch()
    yield folder
    with _locked(lock):
        using.unlink(missing_ok=True)
        if not list(folder.glob("*.using")):  # no other process will lock again: it marked its end
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(path: Path):
    """`path` locked for this process (the other waits) while the block runs."""
    import fcntl

    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def converted_once(run_shared: Path, services, repo_id: str, weight_format: str):
    """A model converted through the app's own convert path (export, compression, check, evaluation), once a
    run: the first test process converts it, and the other copies the result into its own library (both need
    it; each conversion with its evaluation takes about a minute here)."""
    from genai_ui.convert.jobs import convert_model, drain
    from genai_ui.convert.options import ExportOptions

    kept = run_shared / f"{repo_id.replace('/', '--')}-{weight_format}"
    with _locked(run_shared / f".{kept.name}.lock"):
        if not (kept / ".complete").is_file():
            report = drain(convert_model(hub=services.hub, library=services.library, repo_id=repo_id,
                                         options=ExportOptions(weight_format=weight_format)))
            shutil.copytree(services.library.get(report.id).location, kept / "model", symlinks=True)
            (kept / ".complete").write_text(report.id)
            return services.library.get(report.id)
        model_id = (kept / ".complete").read_text()
        copying = services.library.models_dir / f".copying-{model_id}"  # hidden from the library until renamed
        shutil.copytree(kept / "model", copying, symlinks=True)
        os.rename(copying, services.library.models_dir / model_id)
        return services.library.get(model_id)


@pytest.fixture(scope="session")
def vision_model(services, run_shared):
    """The tiny LLaVA from the local Hub, exported and compressed to int4 through the app's own convert path."""
    return converted_once(run_shared, services, "tiny-random/llava", "int4")


@pytest.fixture(scope="session")
def image_model(services, run_shared):
    """The tiny Stable Diffusion from the local Hub, exported and compressed to int8 through the app's own
    convert path."""
    return converted_once(run_shared, services, "tiny-random/stable-diffusion", "int8")
