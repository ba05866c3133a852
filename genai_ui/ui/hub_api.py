"""The Hub's endpoints (gradio_client and MCP): search, a model's details and its pre-flight, download."""

from __future__ import annotations

import threading

import gradio as gr

from ..hub.client import details
from ..services import Services
from ..work.background import Finished
from .caller import caller_of
from .endpoints import line_events
from .errors import user_errors


def register_hub_api(services: Services) -> None:
    """Search, details and downloads, each with the caller's own token."""

    @user_errors
    def search_models(query: str = "", task: str = "", sort: str = "downloads", limit: int = 20,
                      openvino_only: bool = False, gguf_only: bool = False,
                      request: gr.Request | None = None) -> list[dict]:
        """Search the Hugging Face Hub for models, each with whether it runs here and its estimated size.

        Args:
            query: words in the repo id; empty lists the top models.
            task: text-generation, image-text-to-text or text-to-image; empty for all.
            sort: downloads, likes, trending or recent.
            limit: how many models, 1 to 100.
            openvino_only: only repos that already hold OpenVINO IR.
            gguf_only: only repos that hold GGUF files.
        """
        return [m.to_api() for m in services.hub.search(query=query, task=task, sort=sort, limit=limit,
                                                         openvino_only=openvino_only, gguf_only=gguf_only,
                                                         token=caller_of(services.settings, request).hub_token)]

    @user_errors
    def model_details(repo_id: str, request: gr.Request | None = None) -> dict:
        """One Hub model in detail: task, architecture, whether it runs here (and why not), its files
        with sizes, estimated sizes per weight format, license, model card, and its GGUF files; and the
        pre-flight: per precision, the download, the disk and peak memory to convert, the memory to run, the
        predicted decode speed on this machine, and whether each fits (the first call measures the machine).

        Args:
            repo_id: the Hub repo, as owner/name.
        """
        about = details(services.hub, repo_id, caller_of(services.settings, request).hub_token)
        return {**about.to_api(), "preflight": services.conversions.preflight(about)}

    @user_errors
    def download_model(repo_id: str, revision: str = "main", request: gr.Request | None = None) -> dict:
        """Fetch a Hub model that runs here into the local library: a repo holding OpenVINO IR, or the
        recommended GGUF file of a GGUF repo. Returns {id, location, size_bytes}; the id is what chat takes.

        Args:
            repo_id: the Hub repo, as owner/name.
            revision: a branch, tag, commit or refs/pr/N (shared: a branch or tag); not main: an id of its own.
        """
        caller = caller_of(services.settings, request)
        for event in services.downloads.download(caller=caller, repo_id=repo_id, revision=revision,
                                                 cancel=threading.Event()):
            entry = event.result if isinstance(event, Finished) else None
        return {"id": entry.id, "location": entry.location, "size_bytes": entry.size_bytes}

    for fn in (search_models, model_details):  # network-bound: several at once
        gr.api(fn, api_name=fn.__name__, concurrency_limit=4)
    gr.api(download_model, api_name="download_model", **line_events(services.downloads.line))
