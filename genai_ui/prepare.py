"""`make setup`'s last step: the built-in model made ready in the app's home and tuned for this machine, the
embedding model that compares a compressed model's answers exported there, and the machine's reading speed
(the pre-flight's predictions) measured."""

from __future__ import annotations

import argparse
import subprocess

from .builtin import BUILTIN_ID
from .embedder import ensure_embedder
from .services import create_services
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    """`python -m genai_ui.prepare`: the built-in model (or --model) made ready in the app's home, its IR
    saved and its engine options tuned on the default device, once per processor (`make setup` runs it)."""
    parser = argparse.ArgumentParser(prog="python -m genai_ui.prepare", description=main.__doc__)
    parser.add_argument("--model", default=BUILTIN_ID, help="a chat model of the library (default: the built-in one)")
    parser.add_argument("--again", action="store_true", help="tune even if this processor has a tune already")
    args = parser.parse_args(argv)
    settings = Settings.from_args([])
    print(f"The embedding model is ready in {ensure_embedder(settings.home)}.", flush=True)
    services = create_services(settings)
    device = services.devices.resolve("")
    print("Measuring how fast this machine reads a model's weights (the Hub tab's predicted speeds)…", flush=True)
    try:
        profile = services.conversions.profiles.get(device)
        print("Read per second: " + ", ".join(f"{p} {v / 1e9:.1f} GB" for p, v in profile.bytes_per_s.items())
              + f"; {profile.layer_s * 1e3:.2f} ms a layer.", flush=True)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:  # the app measures it again when asked
        print(f"This machine could not be measured now ({err}); the Hub tab will try on its first pre-flight.")
    last = services.tune.last(args.model, device)
    if last is not None and last.get("cpu") == services.devices.processor() and not args.again:
        print(f"{args.model} on {device} was tuned on this processor already ({last['winner_described']}).")
        return 0

    def show(done: int, total: int, what: str) -> None:
        print(f"\r[{done}/{total}] {what[:90]:<90}", end="", flush=True)

    report = services.tune.tune(model=args.model, device=device, progress=show)
    print("\n" + report.summary().replace("**", ""))
    services.pipelines.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
