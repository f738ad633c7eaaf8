"""``clipdistill colour``: chapter 07's experiment from the command line.

    clipdistill colour --models openai/clip-vit-base-patch32 --prompt-styles 1,2,3,4 run analyze

``run`` embeds and scores (writing ``results/<profile>/07_colour.csv``), ``analyze`` reads
that CSV back and prints the summary; with neither, both. This module imports only
argparse at the top, so ``clipdistill --help`` never imports torch.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["STEPS", "add_colour_arguments", "run_colour"]

STEPS: tuple[str, ...] = ("run", "analyze")


def add_colour_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("steps", nargs="*", metavar="STEP",
                        help="run (embed and score: writes results/<profile>/07_colour.csv) and/or "
                             "analyze (read it back, print the summary); default: run analyze")
    parser.add_argument("--models", help="comma-separated model specs: Hugging Face ids such as "
                                         "openai/clip-vit-base-patch32 or open_clip name/tag such as "
                                         "ViT-B-32/openai (default: the profile's colour_models)")
    parser.add_argument("--prompt-styles", help="comma-separated: 1 bare word, 2 a photo, 3 colour "
                                                "sentence, 4 RGB numbers (default: colour_prompt_styles)")
    parser.add_argument("--tasks", help="comma-separated: naming, associations, discriminability, "
                                        "human (default: colour_tasks)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow models that run Python code from their hub repository "
                             "(microsoft/LLM2CLIP-Openai-B-16). A security decision: that code runs "
                             "with your permissions. Off unless given; no profile turns it on.")
    return parser


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _steps(words: list[str]) -> list[str]:
    from . import ColourError

    for w in words:
        if w not in STEPS:
            raise ColourError(f"Unknown step {w!r}: valid are {', '.join(STEPS)}.")
    return [s for s in STEPS if s in words] if words else list(STEPS)


def run_colour(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Validate everything, run the steps, print the summary; returns an exit code.

    Bad input raises ColourError (a ConfigError): the CLI prints its one sentence, exit 2.
    """
    from ..session import setup
    from . import CHAPTER, analysis, experiment

    steps = _steps(list(args.steps or []))
    for key, value in (("colour_models", _csv(args.models)), ("colour_tasks", _csv(args.tasks)),
                       ("colour_prompt_styles", _csv(args.prompt_styles))):
        if value is not None:
            overrides[key] = value
    if args.trust_remote_code:
        overrides["colour_trust_remote_code"] = True
    cfg = setup(CHAPTER, getattr(args, "profile", "auto"), overrides, show=False)
    experiment.check(cfg)
    if cfg.smoke:
        print("SMOKE RUN: random weights, these numbers are not results.")
    if "run" in steps:
        df = experiment.run(cfg)
        print(f"written: {experiment.csv_path(cfg)} ({len(df)} rows)")
    if "analyze" in steps:
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(analysis.summary(analysis.load(cfg)).round(3).to_string())
    return 0
