import subprocess
import sys


def test_core_imports_no_gradio():
    """The core is plain Python: importing all of it (and building the services) loads no gradio."""
    code = (
        "import sys, tempfile, pathlib\n"
        "import genai_ui, genai_ui.services, genai_ui.run.chat, genai_ui.library, genai_ui.engines.devices\n"
        "import genai_ui.run.benchmark, genai_ui.run.conversation, genai_ui.engines.llm, genai_ui.bench\n"
        "from genai_ui.settings import Settings\n"
        "with tempfile.TemporaryDirectory() as home:\n"
        "    genai_ui.services.create_services(Settings(home=pathlib.Path(home)))\n"
        "assert 'gradio' not in sys.modules, 'gradio was imported by the core'\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "clean" in result.stdout


def test_no_core_module_mentions_gradio_in_an_import():
    """Also imports inside functions, which the run above may not reach."""
    import ast
    from pathlib import Path

    core = Path(__file__).resolve().parent.parent / "genai_ui"
    offenders = []
    for path in core.rglob("*.py"):
        if "ui" in path.relative_to(core).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            # gradio_client too: the core talks to the app only through genai_ui/ui/client.py
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("gradio", "gradio_client")]
    assert offenders == []


def test_the_package_never_imports_the_tests():
    """genai_ui ships without tests/: the benches build their models with genai_ui/testing/models.py."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "genai_ui"
    offenders = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            offenders += [f"{path.relative_to(package)}: {n}" for n in names if n.split(".")[0] == "tests"]
    assert offenders == []


def test_no_two_modules_import_each_other():
    """No import cycle, through any number of modules, counting imports inside functions too: a cycle is
    what a lazy import hides, and it makes the order in which modules load matter."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "genai_ui"
    modules = {".".join(p.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1]) if node.level else ""
                module = ".".join(filter(None, (base, node.module or "")))
                # `from . import atomic` names a module; `from .x import y` may name one (x.y) or a value
                targets |= {module} | {f"{module}.{a.name}" for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}

    # Tarjan's strongly connected components: any with two or more modules is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert cycles == []


# The arrows point one way: ui → services → engines and work → the shared modules. A module may import
# its own package, the modules of its own layer and whatever sits in a layer below (no cycles: the test above).
LAYERS = [
    {"settings", "errors", "atomic", "gguf", "library", "access", "builtin", "embedder", "tasks"},
    {"engines", "work", "documents"},
    {"hub", "convert", "run", "manage"},
    {"services"},
    {"ui", "v1", "bench", "testing", "prepare"},
]


def test_imports_point_down_the_layers():
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "genai_ui"
    layer_of = {room: depth for depth, rooms in enumerate(LAYERS) for room in rooms}
    rooms = {p.relative_to(package).parts[0].removesuffix(".py") for p in package.glob("*") if p.name != "__init__.py"
             and not p.name.startswith("__")}
    assert rooms == set(layer_of), f"a module or package without a layer: {rooms ^ set(layer_of)}"
    upward = []
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        if parts == ("__init__",):
            continue
        room = parts[0]
        here = ["genai_ui", *parts[:-1]]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = here[: len(here) - node.level + 1]
                targets = [".".join(filter(None, [*base, node.module or ""]))]
                if not node.module and len(base) == 1:  # `from .. import atomic`
                    targets = [f"genai_ui.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                bits = target.split(".")
                if bits[0] != "genai_ui" or len(bits) < 2 or bits[1] in ("__version__",) or bits[1] == room:
                    continue
                if bits[1] in layer_of and layer_of[bits[1]] > layer_of[room]:
                    upward.append(f"{'/'.join(parts)} imports {target}")
    assert upward == [], "\n".join(upward)


def test_user_errors_are_defined_only_in_errors_py():
    """One module holds what a user can get wrong (errors.py); the UI turns them into messages in ui/errors.py."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "genai_ui"
    elsewhere = []
    for path in package.rglob("*.py"):
        if path.name == "errors.py" and path.parent == package:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "").endswith(("Error", "Cancelled", "Failed"))
                                                      or getattr(b, "id", "") in ("Exception", "NotAllowed")
                                                      for b in node.bases):
                elsewhere.append(f"{path.relative_to(package)}: {node.name}")
    assert elsewhere == ["gguf.py: _Bad"], elsewhere  # _Bad never leaves gguf.py: it becomes a ModelLoadError
