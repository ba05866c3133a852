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


def test_app_imports_gradio_only_in_ui():
    import genai_ui.ui  # noqa: F401  (the UI does import it)
    assert "gradio" in sys.modules
