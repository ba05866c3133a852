import subprocess
import sys


def test_core_imports_no_gradio():
    """The core is plain Python: importing all of it (and building the services) loads no gradio."""
    code = (
        "import sys, tempfile, pathlib\n"
        "import genai_ui, genai_ui.services, genai_ui.chat, genai_ui.library, genai_ui.devices\n"
        "import genai_ui.benchmark, genai_ui.conversation, genai_ui.engines.chat, genai_ui.bench\n"
        "from genai_ui.settings import Settings\n"
        "genai_ui.services.create_services(Settings(home=pathlib.Path(tempfile.mkdtemp())))\n"
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
    """genai_ui ships without tests/: the benches build their models with genai_ui/bench/models.py."""
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
