"""The API tab: /v1's address as this visitor's browser reaches the app, whether they may use it, the
library's models they may call, and code to copy (openai, curl, LangChain)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ..services import Services
from ..v1.snippets import access, base_url, snippets
from .caller import caller_of


@dataclass(frozen=True)
class ApiTab:
    """What the page needs of the tab: the handler that fills it for whoever shows it, and its outputs."""
    tab: gr.Tab
    fill: object  # (request, profile, oauth) -> {component: update}
    outputs: list


def build_api_tab(services: Services, tab: gr.Tab) -> ApiTab:
    gr.Markdown("Every OpenAI client can use this app's models: the `openai` SDKs, LangChain, LlamaIndex, "
                "Open WebUI, Continue. The API runs on the app's own address, through the same engines as the "
                "page. docs/api.md has more: JSON, tool calls, images, and the errors.")
    status = gr.Markdown(elem_id="api-status")
    models = gr.Dataframe(headers=["model id", "task"], interactive=False, label="Models you may call",
                          elem_id="api-models")
    python = gr.Code(language="python", label="Python (openai)", interactive=False, elem_id="api-python")
    curl = gr.Code(language="shell", label="curl", interactive=False, elem_id="api-curl")
    langchain = gr.Code(language="python", label="LangChain", interactive=False, elem_id="api-langchain")

    def fill(request: gr.Request, profile: gr.OAuthProfile | None, oauth: gr.OAuthToken | None):
        caller = caller_of(services.settings, request, profile, oauth)
        allowed = access(services.settings.api_key, caller.shared)
        base = base_url(dict(request.headers or {}))
        entries = services.access.list(caller) if allowed.on else []
        chat = next((e.id for e in entries if e.task == "text-generation"), "")
        code = snippets(base, chat, allowed.key)
        return {status: f"**Base URL:** `{base}`  \n{allowed.why}",
                models: [[e.id, e.task] for e in entries],
                python: code["python"], curl: code["curl"], langchain: code["langchain"]}

    return ApiTab(tab, fill, [status, models, python, curl, langchain])
