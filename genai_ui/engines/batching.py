"""Many conversations at once through openvino_genai's continuous batching scheduler.

Every reply is a request added to one ContinuousBatchingPipeline; the engine runs the
requests of all sessions together, step by step, so four people chatting get far more
tokens per second in total than one (measured in `python -m genai_ui.bench load`).

Why the engine is driven through `generate()` and not a loop of `step()`: `step()` holds
Python's GIL for the whole step (measured: a thread that sleeps 2 ms waited 38 ms, one
step), which would freeze the web server while anyone is chatting; `generate()` releases
it. `generate()` keeps stepping while any request is unfinished, those added with
`add_request()` included, but refuses to start while one is pending. So the first request
of a busy period runs as `generate()`'s own (its tokens come through a streamer, and a
reply alone is computed exactly as LLMPipeline computes it); once it has its first token,
`generate()` is running and the requests that come meanwhile are added to it. A request
added in the instant `generate()` returns is finished with `step()` (rare: correct, only
slower for the server).

A request added to the running engine is read by its caller, who polls its handle
(`can_read` never blocks); every caller decodes its tokens with its own TextStreamer.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable, Iterator

from .engine import GenaiTokens, Outcome, Streamer, finish_of, prompt_ids, text_ids

log = logging.getLogger(__name__)

MAX_PROVEN = 1024  # grammars remembered as compiled; past that, the next new one starts the set again
POLL_S = 0.03  # how often an added request looks for new tokens: about a decode step; each look costs the engine CPU


class BatchingLLM(GenaiTokens):
    """An LLM that serves every session's requests together. Thread-safe: call `generate`
    from as many threads as there are replies."""

    engine = "genai"
    label = ""
    concurrent = True  # the pipeline manager gives it no lock

    def __init__(self, pipeline: Any, assisted: bool = False) -> None:
        self.pipeline = pipeline
        self.assisted = assisted  # speculative decoding or prompt lookup: a step may give several tokens
        self.tokenizer = pipeline.get_tokenizer()
        self._ids = itertools.count(1 << 40)  # far from the ids generate() gives its own requests
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._waiting: list[_Request] = []  # submitted while the engine is not running
        self._running = False  # generate() is stepping: add requests straight to it
        self._added: list[_Request] = []  # added to this run of generate()
        self._lead_over = False
        self._closed = False
        self._proven: set[str] = set()  # grammars (structured output) this model's engine has compiled
        self._driver = threading.Thread(target=self._drive, name="genai_ui-batching", daemon=True)
        self._driver.start()

    def get_generation_config(self) -> Any:
        return self.pipeline.get_config()

    def chat(self, messages: list[dict], config: Any, streamer: Streamer) -> Outcome:
        """The engine takes token ids: the conversation with its chat template, as LLMPipeline builds it."""
        return self.generate(prompt_ids(self.tokenizer, messages), config, streamer)

    def complete(self, prompt: str, config: Any, streamer: Streamer) -> Outcome:
        return self.generate(text_ids(self.tokenizer, prompt), config, streamer)

    def generate(self, input_ids: Any, config: Any, streamer: Callable[[str], Any]) -> Outcome:
        """Run one request to its end, calling `streamer(text)` with each new piece of text;
        a streamer that returns StreamingStatus.CANCEL or STOP ends the request in the engine."""
        request = _Request(input_ids, config)
        with self._lock:
            if self._closed:
                raise RuntimeError("the model was unloaded")
            if self._running and self._joins(request):
                self._add(request)
            else:
                self._waiting.append(request)
                self._work.notify()
        text = _TextFeed(self.tokenizer, streamer)
        count, steps, first, last = 0, 0, 0.0, 0.0
        for tokens in request.tokens():
            last = time.perf_counter()
            first = first or last
            count += len(tokens)
            steps += 1
            if text.write(tokens):
                self._stop(request)
                break
        else:
            text.end()
        if request.error:
            raise request.error
        ttft = (first - request.submitted) * 1000 if first else 0.0
        speed = (count - 1) / (last - first) if count > 1 and last > first else 0.0
        finish = finish_of(count, config.max_new_tokens, request.stopped)
        accepted = count - request.steps(steps) if self.assisted else None
        return Outcome(ttft, speed, request.input_tokens, count, finish, accepted)

    def close(self, wait: float = 0.0) -> None:
        """Stop taking requests; those running finish first. With `wait`, wait that long for the
        engine to be idle (at exit: a pipeline destroyed mid-generate() aborts the process)."""
        with self._lock:
            self._closed = True
            self._work.notify()
        if wait and threading.current_thread() is not self._driver:
            self._driver.join(wait)

    def _stop(self, request: "_Request") -> None:
        """End a request in the engine; what came so far is kept. generate()'s own request, with
        nothing else running, means generate() returns at its next step: what comes next (a
        Regenerate after Stop) waits for the next run instead of joining this one."""
        with self._lock:
            request.stop()
            if request.handle is None and not self._added:
                self._lead_over, self._running = True, False

    def _joins(self, request: "_Request") -> bool:
        """Under the lock, while the engine runs: may this request join the running replies? Not with a
        grammar new to this model: one xgrammar cannot compile fails every reply of the step that
        compiles it, so it first runs as generate()'s own request (its first token proves it), and
        what comes after it waits with it."""
        return (not request.grammar or request.grammar in self._proven) and not self._waiting

    def _add(self, request: "_Request") -> None:
        """Under the lock, while the engine runs."""
        try:
            request.attach(self.pipeline.add_request(next(self._ids), request.input_ids, request.config))
            self._added.append(request)
        except RuntimeError as err:  # a bad config: this request's error, not the engine's
            request.fail(err)

    def _drive(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._work.wait()
                if self._closed:
                    for request in self._waiting:
                        request.fail(RuntimeError("the model was unloaded"))
                    return
                lead = self._waiting.pop(0)
                self._added, self._lead_over = [], False
            failed = None
            try:
                self.pipeline.generate([lead.input_ids], [lead.config], _lead_streamer_class()(self, lead))
            except RuntimeError as err:
                lead.fail(err)
                failed = err
            with self._lock:
                self._running = False
            if failed is not None:
                self._fail_added(failed)  # before the loop below would step them on
            lead.done()
            try:
                while self.pipeline.has_non_finished_requests():  # added as generate() returned
                    self.pipeline.step()
            except RuntimeError as err:
                self._fail_added(err)

    def _fail_added(self, err: RuntimeError) -> None:
        """The engine's error ends every reply added to this run: none waits forever, and none is left in the
        engine, which would meet it again at its next step."""
        with self._lock:
            added, self._added = [r for r in self._added if r.error is None], []
        if added:
            log.warning("The engine's error ended %d more replies: %s", len(added), err)
        for request in added:
            request.fail(err)
            request.handle.cancel()

    def _lead_wrote(self, lead: "_Request", tokens: list[int]) -> None:
        """On the engine's streaming thread: the first token says generate() runs, so what
        waited is added to it; the last one, when nothing else runs, says generate() is about
        to return, so what comes next waits for the next run instead of joining this one."""
        with self._lock:
            if not self._running and not self._lead_over:
                self._running = True
                if lead.grammar:
                    if len(self._proven) >= MAX_PROVEN:
                        self._proven.clear()
                    self._proven.add(lead.grammar)
                waiting, self._waiting = self._waiting, []
                for request in waiting:
                    if self._joins(request):
                        self._add(request)
                    else:
                        self._waiting.append(request)
            over = lead.push(tokens)
            if over and not self._lead_over:
                self._lead_over = True
                if not self._added:
                    self._running = False
        if over:
            lead.done()


@functools.cache  # openvino_genai is imported when first needed
def _lead_streamer_class():
    import openvino_genai as og

    class LeadStreamer(og.StreamerBase):
        """The tokens of generate()'s own request, on the engine's streaming thread."""

        def __init__(self, owner: BatchingLLM, request: "_Request") -> None:
            super().__init__()
            self.owner, self.request = owner, request

        def write(self, token) -> og.StreamingStatus:
            self.owner._lead_wrote(self.request, token if isinstance(token, list) else [token])
            return og.StreamingStatus.STOP if self.request.stopped else og.StreamingStatus.RUNNING

        def end(self) -> None:
            pass

    return LeadStreamer


class _Request:
    """One reply: generate()'s own (tokens pushed by its streamer) or added (its handle polled)."""

    def __init__(self, input_ids: Any, config: Any) -> None:
        self.input_ids = input_ids
        self.config = config
        self.input_tokens = int(input_ids.get_shape()[-1])
        structured = getattr(config, "structured_output_config", None)  # its repr holds the whole grammar
        self.grammar = hashlib.sha256(repr(structured).encode()).hexdigest() if structured is not None else ""
        self.submitted = time.perf_counter()
        self.handle: Any = None
        self.error: BaseException | None = None
        self.stopped = False
        self._pushed: queue.Queue = queue.Queue()
        self._count = 0
        self._ends = set() if config.ignore_eos else {config.eos_token_id, *config.stop_token_ids}

    def push(self, tokens: list[int]) -> bool:
        """generate()'s own request; True at its last token. The end is seen in the tokens,
        since the engine may go on stepping for the others."""
        self._pushed.put(tokens)
        self._count += len(tokens)
        return self._count >= self.config.max_new_tokens or bool(self._ends.intersection(tokens))

    def attach(self, handle: Any) -> None:
        self.handle = handle
        self._pushed.put([])  # wakes the caller, who then reads the handle

    def done(self) -> None:
        self._pushed.put(None)

    def fail(self, err: BaseException) -> None:
        self.error = err
        self.done()

    def stop(self) -> None:
        self.stopped = True
        if self.handle is not None:
            self.handle.stop()

    def steps(self, chunks: int) -> int:
        """Engine steps that gave this request tokens: one a chunk for generate()'s own request,
        whose streamer is called once a step; an added one is read less often than the engine
        steps, so its handle's own count."""
        if self.handle is None:
            return chunks
        try:
            return len(self.handle.get_perf_metrics().raw_metrics.m_batch_sizes) or chunks
        except RuntimeError:
            return chunks

    def tokens(self) -> Iterator[list[int]]:
        while True:
            if self.handle is None:
                tokens = self._pushed.get()
                if tokens is None:
                    return
                if self.handle is None:
                    yield tokens
                continue
            yield from self._polled()
            return

    def _polled(self) -> Iterator[list[int]]:
        import openvino_genai as og

        handle = self.handle
        while self.error is None:
            if handle.can_read():
                tokens = [t for output in handle.read().values() for t in output.generated_ids]
                if tokens:
                    yield tokens
            elif handle.get_status() != og.GenerationStatus.RUNNING:
                if not handle.can_read():
                    return
            else:
                time.sleep(POLL_S)


class _TextFeed:
    """Tokens in, text out through the engine's own incremental detokenizer; True once the
    caller's streamer asks to stop."""

    def __init__(self, tokenizer: Any, streamer: Callable[[str], Any]) -> None:
        import openvino_genai as og

        self._stop = False
        halt = (og.StreamingStatus.CANCEL, og.StreamingStatus.STOP)

        def on_text(piece: str) -> Any:
            self._stop = self._stop or streamer(piece) in halt
            return og.StreamingStatus.RUNNING

        self._streamer = og.TextStreamer(tokenizer, on_text)

    def write(self, tokens: list[int]) -> bool:
        self._streamer.write(tokens)
        return self._stop

    def end(self) -> None:
        self._streamer.end()
