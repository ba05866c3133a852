"""The conversions' endpoints (gradio_client and MCP): convert, compress, evaluate, and find the best compression."""

from __future__ import annotations

import threading
from typing import Iterator

import gradio as gr

from ..convert.options import ExportOptions
from ..services import Services
from .caller import caller_of
from .endpoints import HEARTBEAT, followed, line_events
from .errors import user_errors


def register_convert_api(services: Services) -> None:
    """Conversions, which stream their progress and stop when their client leaves."""

    @user_errors
    def convert_model(repo_id: str, weight_format: str = "int4", group_size: int = 0, ratio: float = 1.0,
                      sym: bool = False, awq: bool = False, scale_estimation: bool = False, dataset: str = "",
                      trust_remote_code: bool = False, evaluate: bool = True, request: gr.Request | None = None,
                      profile: gr.OAuthProfile | None = None, oauth: gr.OAuthToken | None = None) -> Iterator[dict]:
        """Export a Hub checkpoint (Transformers or Diffusers) to OpenVINO IR with optimum-intel, compress its
        weights with NNCF, check it, and add it to the library. Streams its progress ({status, stage, done,
        total, unit, place}; from the registration on, also the new model's id) and ends with the report: id,
        location, task, seconds, source_bytes, output_bytes, peak_rss_bytes, options, and for a compressed chat
        model its quality against the uncompressed export (KL divergence, top-1 agreement, perplexity, and the
        answers side by side) and its speed. A client that leaves cancels it: nothing is added, or, once the
        model is registered, its evaluation stops and the model stays with the quick check's figures.

        Args:
            repo_id: the Hub repo of the checkpoint, as owner/name.
            weight_format: fp32, fp16, int8, int4, nf4, mxfp4 or cb4.
            group_size: weights per quantization group for 4-bit formats; 0 picks one that fits the model; -1 per channel.
            ratio: share of layers at 4 bits (the rest at 8 bits), above 0 and at most 1.
            sym: symmetric quantization (no zero points).
            awq: apply AWQ (activation-aware weight quantization); data-free without a dataset.
            scale_estimation: apply scale estimation (needs a dataset).
            dataset: calibration data: "auto" (the model's own generations) or empty for none.
            trust_remote_code: run Python code the repo carries; only for repos you trust.
            evaluate: after registering a compressed chat model, measure it fully (about a minute for a small
                model; the stage "evaluate"); False ends at the registration, with the quick check's figures.
        """
        options = ExportOptions(weight_format=weight_format, group_size=int(group_size), ratio=float(ratio),
                                sym=bool(sym), awq=bool(awq), scale_estimation=bool(scale_estimation),
                                dataset=dataset or "", trust_remote_code=bool(trust_remote_code))
        cancel = threading.Event()
        yield from followed(services.conversions.convert(
            caller=caller_of(services.settings, request, profile, oauth), repo_id=repo_id, options=options,
            cancel=cancel, tick=HEARTBEAT, evaluate=bool(evaluate)), cancel)

    @user_errors
    def compress_model(model: str, weight_format: str = "int4", group_size: int = 0, ratio: float = 1.0,
                       sym: bool = False, evaluate: bool = True, request: gr.Request | None = None,
                       profile: gr.OAuthProfile | None = None) -> Iterator[dict]:
        """Compress the weights of an OpenVINO model of the library again with NNCF, into a new library model (the
        original stays). Streams its progress and ends with the report, as convert_model.

        Args:
            model: a model id from local_models (an OpenVINO model with 16-bit weights).
            weight_format: int8, int4, nf4, mxfp4 or cb4.
            group_size: weights per quantization group for 4-bit formats; 0 picks one that fits the model; -1 per channel.
            ratio: share of layers at 4 bits (the rest at 8 bits), above 0 and at most 1.
            sym: symmetric quantization (no zero points).
            evaluate: after registering it, measure it fully against the original; False ends at the registration.
        """
        options = ExportOptions(weight_format=weight_format, group_size=int(group_size), ratio=float(ratio),
                                sym=bool(sym))
        cancel = threading.Event()
        yield from followed(services.conversions.compress(
            caller=caller_of(services.settings, request, profile), model=model, options=options, cancel=cancel,
            tick=HEARTBEAT, evaluate=bool(evaluate)), cancel)

    @user_errors
    def evaluate_model(model: str, reference: str = "", request: gr.Request | None = None,
                       profile: gr.OAuthProfile | None = None) -> Iterator[dict]:
        """Measure a chat model of the library against a reference, as a conversion's evaluation does: perplexity,
        KL divergence and top-1 agreement of their next-token distributions on a fixed text (when both are
        OpenVINO IR), and their greedy answers to 16 prompts compared by sentence embeddings (a vision model: its
        language model token by token, with a picture in the prompt; no answers). Streams its progress
        as convert_model does and ends with {model, reference, quality, precisions, saved}; the report is kept
        with the model (saved) when you may change it: you added it, or you run this machine.

        Args:
            model: a chat or vision model id from local_models.
            reference: the model to measure it against, of the same task; empty: the library model it was made
                from (a compressed model's 16-bit original).
        """
        cancel = threading.Event()
        yield from followed(services.conversions.evaluate(
            caller=caller_of(services.settings, request, profile), model=model, reference=reference or "",
            cancel=cancel, tick=HEARTBEAT), cancel)

    @user_errors
    def find_best_compression(repo_id: str, candidates: str = "", request: gr.Request | None = None,
                              profile: gr.OAuthProfile | None = None,
                              oauth: gr.OAuthToken | None = None) -> Iterator[dict]:
        """Find the best compression of a Hub checkpoint for this machine: one fp16 export, compressed at each
        candidate's settings, each measured (KL divergence, top-1 agreement, answers, decode speed on this
        machine). Streams its progress as convert_model does and ends with {search, repo_id, rows, recommended,
        rule, reference_bytes, seconds, stopped, device}; each row is {name, label, options, bytes, verdict, kl_mean,
        top1_agreement, answer_similarity, tokens_per_s, pareto, command, …} or {name, label, skipped}. Nothing
        enters the library until keep_candidates; the candidates are deleted after an hour. A client that leaves
        stops it.

        Args:
            repo_id: the Hub repo of the checkpoint, as owner/name.
            candidates: comma-separated names among int8, int4-g128, int4-g64, int4-awq, nf4, int4-mixed; empty
                for all.
        """
        cancel = threading.Event()
        yield from followed(services.conversions.find_best(
            caller=caller_of(services.settings, request, profile, oauth), repo_id=repo_id, names=candidates or "",
            cancel=cancel, tick=HEARTBEAT), cancel)

    @user_errors
    def keep_candidates(search: str, keep: str, request: gr.Request | None = None,
                        profile: gr.OAuthProfile | None = None) -> list[dict]:
        """Keep candidates of your own finished find_best_compression in the library; the others are deleted.
        Returns the new library entries.

        Args:
            search: the search's id, from find_best_compression's result.
            keep: comma-separated candidate names to keep (empty: keep none, delete all).
        """
        names = [n.strip() for n in (keep or "").split(",") if n.strip()]
        return [e.to_api() for e in services.conversions.keep_candidates(
            caller=caller_of(services.settings, request, profile), search=search, keep=names)]

    gr.api(keep_candidates, api_name="keep_candidates", concurrency_limit=2)
    # one at a time: the others wait in the app's own line
    for fn in (convert_model, compress_model, evaluate_model, find_best_compression):
        gr.api(fn, api_name=fn.__name__, **line_events(services.conversions.line))
