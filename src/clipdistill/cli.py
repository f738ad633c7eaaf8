"""The ``clipdistill`` command: run the chapters, build the book, open them in JupyterLab,
inspect a profile."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .config import PROFILE_NAMES, ConfigError, parse_overrides, project_root, resolve
from .session import SETTINGS_ENV

EXIT_USAGE, EXIT_FAILED = 2, 1


def _add_profile_args(p: argparse.ArgumentParser, overrides: bool = True) -> None:
    # Defaults from the environment `clipdistill lab` gives its kernels and terminals, so a
    # run started there resolves as the notebooks beside it do (session.SETTINGS_ENV).
    env = {key: os.environ.get(name) or None for key, name in SETTINGS_ENV.items()}
    p.add_argument("--profile", default=env["profile"] or "auto",
                   help=f"one of {', '.join(PROFILE_NAMES)} (default: ${SETTINGS_ENV['profile']}, "
                        "else auto = quick when pretrained weights can be had, else smoke)")
    if overrides:
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override any parameter, e.g. --set knn_k=7 --set epochs=3 (repeatable)")
    p.add_argument("--data-root", default=env["data_root"],
                   help="folder with PetImages/, cifar10/, mnist/, caltech101/ (e.g. ../shared/data; "
                        f"default: ${SETTINGS_ENV['data_root']})")


def _overrides(args: argparse.Namespace) -> dict:
    overrides = parse_overrides(args.overrides)
    if args.data_root:
        overrides["data_root"] = str(Path(args.data_root).expanduser().resolve())
    return overrides


def cmd_run(args: argparse.Namespace) -> int:
    from .hub import HubUnavailable
    from .runner import ChapterFailed, run_chapters

    only = [s for s in (args.only or "").split(",") if s.strip()] or None
    try:
        run_chapters(args.profile, only=only, overrides=_overrides(args), root=args.root)
    except (ChapterFailed, HubUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    try:
        build_book(args.root, strict=not args.no_strict)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import run_lab

    try:
        return run_lab(args.root, args.profile, args.data_root, port=args.port,
                       open_browser=not args.no_browser)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def cmd_all(args: argparse.Namespace) -> int:
    return cmd_run(args) or cmd_book(args)


def cmd_config(args: argparse.Namespace) -> int:
    cfg = resolve(args.profile, _overrides(args))
    print(json.dumps(cfg.to_dict(), indent=2))
    return 0


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_sweep(args: argparse.Namespace) -> int:
    """Chapter 04's sweep (:func:`clipdistill.ensembles.sweep`), one table per dataset."""
    from .ensembles import CHAPTER, accuracy_table, sweep
    from .session import setup
    from .templates import TemplateError

    try:
        cfg = setup(CHAPTER, args.profile, _overrides(args), show=False)
        df = sweep(cfg, _csv(args.models), _csv(args.template_sets), _csv(args.datasets),
                   rank_set=args.rank_set)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if cfg.smoke:
        print("SMOKE RUN: random weights, these numbers are not results.")
    for ds in dict.fromkeys(df["dataset"]):
        print(f"\n{ds}\n{accuracy_table(df, ds).to_string()}")
    print(f"\nwritten: {Path(cfg.profile_dir()) / (CHAPTER + '_sweep.csv')}")
    return 0


def cmd_colour(args: argparse.Namespace) -> int:
    from .colour.command import run_colour

    return run_colour(args, _overrides(args))


def cmd_costs(args: argparse.Namespace) -> int:
    """`clipdistill costs`: print the recorded chapter costs, or record a finished run."""
    from . import costs

    if args.action == "record":
        if not args.hardware:
            print("error: say what the run ran on, e.g. --hardware '2 CPU cores (GitHub runner)'.",
                  file=sys.stderr)
            return EXIT_USAGE
        root = Path(args.root)
        profile_dir = root / "results" / resolve(args.profile).profile
        try:
            record = costs.record_run(profile_dir, args.hardware, weights=args.weights or "")
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"recorded {record['profile']} on {record['hardware']}: "
              f"{record['total_seconds']:.0f} s in all -> {costs.COSTS_FILE}")
        return 0
    for row in costs.cost_table():
        print(f"{row['profile']:<7} {row['time']:>8} {row['peak memory']:>8}  {row['hardware']} "
              f"({row['weights']} weights, {row['date']})")
    return 0


def _batch_job(args: argparse.Namespace, job: str) -> int:
    """`clipdistill describe` / `clipdistill embed`: a profile's long work as a batch job."""
    from . import jobs
    from .shards import parse_shard
    from .vlm import DescribeError

    try:
        shard = parse_shard(args.shard)
        cfg = resolve(args.profile, _overrides(args))
        if cfg.smoke:
            print("SMOKE RUN: random weights, nothing made here is a result.", file=sys.stderr)
        if job == "describe":
            done = jobs.run_describe(cfg, splits=_csv(args.split), prompts=_csv(args.prompt),
                                     shard=shard)
            print(json.dumps({"described": done, "shard": args.shard}))
        else:
            counts = jobs.run_embed(cfg, splits=_csv(args.split), images_from=args.images_from,
                                    shard=shard)
            print(json.dumps({**counts, "shard": args.shard}))
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_USAGE
    except DescribeError as exc:  # what was described is in the cache; a rerun resumes
        print(f"error: {exc} (finished descriptions are kept; run again to resume)", file=sys.stderr)
        return EXIT_FAILED
    return 0


def add_job_arguments(parser: argparse.ArgumentParser, job: str) -> argparse.ArgumentParser:
    """Options shared by `describe` and `embed` (argparse only: --help never imports torch)."""
    parser.add_argument("--split", help="comma-separated splits, e.g. knn/train,cat_dog_10k/train,other "
                                        "(default: every image the chapters use)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="do the I-th of N equal shares (0 <= I < N), e.g. "
                             "--shard $SLURM_ARRAY_TASK_ID/8; each worker writes its own part "
                             "of the cache (default 0/1: everything)")
    if job == "describe":
        parser.add_argument("--prompt", help="comma-separated prompt names (default: the chapters')")
    else:
        parser.add_argument("--images-from", metavar="FILE",
                            help="embed the images listed in FILE (one path per line) instead")
    return parser


def cmd_describe(args: argparse.Namespace) -> int:
    return _batch_job(args, "describe")


def cmd_embed(args: argparse.Namespace) -> int:
    return _batch_job(args, "embed")


def cmd_set_repository(args: argparse.Namespace) -> int:
    """`clipdistill set-repository URL`: the Colab links and the notebooks' install cells."""
    from .repository import set_repository

    changed = set_repository(args.root, args.url, args.branch)
    for path in changed:
        print(f"updated {path.relative_to(args.root)}")
    print(f"repository: {args.url} ({args.branch}); {len(changed)} file(s) changed")
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    """`clipdistill pin`: every repository's newest commit beside its pin; --write stores them."""
    from . import hub, pins

    current = pins.table()
    repos = [*current]
    for profile in ("quick", "paper"):
        for gpu in (True, False):
            repos += hub.profile_repos(resolve(profile, accelerator=gpu))
    repos = sorted(dict.fromkeys(repos))
    try:
        newest = pins.newest(repos)
    except Exception as exc:  # noqa: BLE001 - offline, a silent network, a missing repo: say which
        print(f"error: the hub at {hub.endpoint()} did not give every repository's newest commit "
              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); check the network or "
              "HF_ENDPOINT, and that HF_HUB_OFFLINE is not set.", file=sys.stderr)
        return EXIT_FAILED
    width = max(map(len, repos))
    print(f"{'repository':<{width}}  {'pinned':<40}  newest")
    for repo in repos:
        pinned = current.get(repo) or "(not pinned)"
        moved = "" if pinned == newest[repo] else "  <- differs"
        print(f"{repo:<{width}}  {pinned:<40}  {newest[repo]}{moved}")
    if args.write:
        print(f"written: {pins.write_table(newest)}")
    else:
        print("`clipdistill pin --write` stores the newest commits as the pins.")
    return 0


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """`clipdistill sweep`'s own options (kept here so --help never imports torch)."""
    parser.add_argument("--models", help="comma-separated model specs, e.g. RN50/openai,ViT-B-32/openai "
                                         "(default: the profile's ensemble_models)")
    parser.add_argument("--template-sets", help="comma-separated sets or files: raw, standard, openai80, "
                                                "simple7, dataset, pets, cifar10, mnist, caltech101, or a "
                                                ".txt/.json path (default: the profile's template_sets)")
    parser.add_argument("--datasets", help="comma-separated: cats_dogs, oxford_pets_37, cifar10, mnist, "
                                           "caltech101, imagenetv2 (downloaded), imagenet (needs "
                                           "imagenet_root) (default: the profile's ensemble_datasets)")
    parser.add_argument("--rank-set", help="rank the single templates of this set (default: ensemble_rank_set)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clipdistill",
        description="Run the clipdistill chapters with papermill and build the book.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the chapters in order (papermill)")
    _add_profile_args(run)
    run.add_argument("--only", help="comma-separated chapter numbers, e.g. 02,05")
    run.set_defaults(func=cmd_run)

    book = sub.add_parser("book", help="build the HTML book from the executed chapters")
    book.add_argument("--no-strict", action="store_true", help="do not treat Sphinx warnings as errors")
    book.set_defaults(func=cmd_book)

    both = sub.add_parser("all", help="run every chapter, then build the book")
    _add_profile_args(both)
    both.add_argument("--no-strict", action="store_true", help=argparse.SUPPRESS)
    both.set_defaults(func=cmd_all, only=None)

    from .lab import DEFAULT_PORT  # no JupyterLab import: --help stays light

    lab = sub.add_parser("lab", help="JupyterLab on notebooks/, with the profile and data a run "
                                     "would use, to read beside the book (Ctrl-C stops it)")
    _add_profile_args(lab, overrides=False)
    lab.add_argument("--port", type=int, default=DEFAULT_PORT,
                     help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; a free one when taken; "
                          "0: any free one)")
    lab.add_argument("--no-browser", action="store_true", help="print the address, open no browser")
    lab.set_defaults(func=cmd_lab)

    show = sub.add_parser("config", help="print the resolved parameters of a profile")
    _add_profile_args(show)
    show.set_defaults(func=cmd_config)

    sweep = sub.add_parser("sweep", help="zero-shot accuracy of models x template sets x datasets "
                                         "(chapter 4's experiment from the command line)")
    _add_profile_args(sweep)
    add_sweep_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)

    from .colour.command import add_colour_arguments  # argparse only: --help stays torch-free

    colour = sub.add_parser("colour", help="what CLIP knows about colour: models x prompt styles x "
                                           "tasks (chapter 7's experiment from the command line)")
    _add_profile_args(colour)
    add_colour_arguments(colour)
    colour.set_defaults(func=cmd_colour)

    describe = sub.add_parser("describe", help="describe the profile's images with its VLM, outside "
                                                "the notebooks (resumable, --shard i/N for a cluster)")
    _add_profile_args(describe)
    add_job_arguments(describe, "describe")
    describe.set_defaults(func=cmd_describe)

    emb = sub.add_parser("embed", help="embed the profile's images with its CLIP model, outside the "
                                       "notebooks (resumable, --shard i/N for several GPUs)")
    _add_profile_args(emb)
    add_job_arguments(emb, "embed")
    emb.set_defaults(func=cmd_embed)

    cost = sub.add_parser("costs", help="the measured cost of each chapter (shown at its top); "
                                        "`record` adds a finished run")
    cost.add_argument("action", nargs="?", choices=("show", "record"), default="show")
    cost.add_argument("--profile", default="smoke", help="whose results/<profile>/ to record")
    cost.add_argument("--hardware", help="what the run ran on, in words (required by record)")
    cost.add_argument("--weights", help="e.g. 'random, real shapes' (default: from the run)")
    cost.set_defaults(func=cmd_costs)

    pin = sub.add_parser("pin", help="the newest commit of every hub repository a profile "
                                     "downloads, beside its pin; --write repins")
    pin.add_argument("--write", action="store_true", help="store the newest commits in pins.json")
    pin.set_defaults(func=cmd_pin)

    repo = sub.add_parser("set-repository", help="the GitHub repository the book's Open in Colab "
                                                 "links and the notebooks' install cells use")
    repo.add_argument("url", help="https://github.com/OWNER/NAME")
    repo.add_argument("--branch", default="main", help="branch or tag to open (default: main)")
    repo.set_defaults(func=cmd_set_repository)

    for p in (run, book, both, lab, show, sweep, colour, describe, emb, cost, pin, repo):
        p.add_argument("--root", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.root = Path(args.root) if args.root else project_root()
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
