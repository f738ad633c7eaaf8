"""Talking to, and about, the Hugging Face hub: can a run's real weights be had, and fast?

Three questions, each answered the way huggingface_hub itself would answer it, so that its
own settings count: ``HF_HUB_OFFLINE`` (any spelling it accepts), ``HF_ENDPOINT`` (a
mirror), ``HF_HOME``/``HF_HUB_CACHE``, ``HF_HUB_ETAG_TIMEOUT`` and the proxy variables.

- :func:`offline`: is the hub switched off?
- :func:`cached`: are these weights already downloaded? (No network.)
- :func:`probe`: does the hub answer for them, within ``HF_HUB_ETAG_TIMEOUT`` seconds? One
  HEAD request through huggingface_hub, without its retries.

Why a probe of our own: when a network swallows packets, huggingface_hub waits 10 s, then
retries for minutes with a 60 s timeout, and open_clip then tries the ``.bin`` beside the
``.safetensors`` the same way: a ``quick`` run hung ~13 minutes before its first error.
:func:`require` asks once, before the first download, and fails in seconds with one
sentence; a hub that stayed silent is not asked again by the same process.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import pins
from .profiles import TINY_SMOLVLM, TINY_VLM  # the stand-ins that never come from a hub

__all__ = [
    "HubUnavailable",
    "HubWeights",
    "Probe",
    "offline",
    "endpoint",
    "cache_dir",
    "open_clip_weights",
    "transformers_weights",
    "clip_weights",
    "profile_weights",
    "cached",
    "cached_file",
    "commit",
    "probe",
    "profile_repos",
    "tokenizer_repo",
    "require",
    "weights_available",
]

# What transformers' from_pretrained looks for, in its order: one of them is the weights.
TRANSFORMERS_WEIGHTS = ("model.safetensors", "model.safetensors.index.json",
                        "pytorch_model.bin", "pytorch_model.bin.index.json")


class HubUnavailable(RuntimeError):
    """The weights are neither cached nor downloadable now: one sentence saying why and what to do."""


@dataclass(frozen=True)
class HubWeights:
    """The files a loader downloads from one hub repository.

    ``files`` is a tuple of groups; every group is needed, and any one file of a group
    will do (``open_clip_model.safetensors`` or ``open_clip_pytorch_model.bin``). The first
    file of the first group is the one a probe asks about first.
    """

    label: str  # how the reader named it: "ViT-B-32/openai", "Qwen/Qwen2.5-VL-3B-Instruct"
    repo_id: str
    files: tuple[tuple[str, ...], ...]
    revision: str = "main"  # a commit (the pin table's, see clipdistill.pins), a branch or a tag


@dataclass(frozen=True)
class Probe:
    """What the hub said. ``silent``: no answer at all (the network is the problem)."""

    ok: bool
    reason: str = ""
    silent: bool = False
    commit: str = ""  # the commit the revision asked for resolves to (X-Repo-Commit)


# -- huggingface_hub's own view of the world ----------------------------------------------

def _constants():
    from huggingface_hub import constants

    return constants


def offline() -> bool:
    """huggingface_hub's verdict on HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE (1, yes, on, true...)."""
    constants = _constants()
    is_offline = getattr(constants, "is_offline_mode", None)
    return bool(is_offline() if callable(is_offline) else constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The hub huggingface_hub talks to: HF_ENDPOINT, or huggingface.co."""
    return _constants().ENDPOINT


def cache_dir() -> str:
    """Where huggingface_hub keeps downloads (HF_HUB_CACHE, else HF_HOME/hub)."""
    return str(_constants().HF_HUB_CACHE)


def shown_cache_dir() -> str:
    """:func:`cache_dir` as a sentence shows it: ``~`` for the home folder, so the same
    message reads the same on every machine (and a screenshot does not carry a user's
    paths)."""
    path, home = Path(cache_dir()), Path.home()
    try:
        return "~/" + path.relative_to(home).as_posix()
    except ValueError:
        return str(path)


def _timeout() -> float:
    return float(_constants().HF_HUB_ETAG_TIMEOUT)


# -- which files a model needs -------------------------------------------------------------

def open_clip_weights(model: str, tag: str) -> HubWeights | None:
    """The hub files open_clip downloads for ``create_model(model, pretrained=tag)``.

    Read from open_clip's pretrained table (``hf_hub: "org/repo/"`` or
    ``"org/repo/file.bin"``), with the ``.safetensors`` alternative open_clip tries first.
    None when the tag is not a hub download (a URL, a file, or not a tag at all).
    """
    import posixpath

    from open_clip import pretrained as oc_pretrained
    from open_clip.constants import HF_WEIGHTS_NAME

    hf_hub = (oc_pretrained.get_pretrained_cfg(model, tag) or {}).get("hf_hub", "")
    if not hf_hub:
        return None
    repo_id, filename = posixpath.split(hf_hub)  # as open_clip.pretrained.download_pretrained does
    filename = filename or HF_WEIGHTS_NAME
    alternatives = tuple(oc_pretrained._get_safe_alternatives(filename))  # tried first, in order
    return HubWeights(f"{model}/{tag}", repo_id, ((*alternatives, filename),))


def transformers_weights(repo_id: str) -> HubWeights | None:
    """The files transformers' ``from_pretrained(repo_id)`` cannot do without: config and
    weights (one file or a sharded index). None for a local folder."""
    if Path(repo_id).expanduser().exists():
        return None
    return HubWeights(repo_id, repo_id, (("config.json",), TRANSFORMERS_WEIGHTS))


def clip_weights(name: str, pretrained: str | None = None) -> HubWeights | None:
    """What ``models.load_clip(name, pretrained)`` downloads, for a spec as the config
    writes it (``"ViT-B-32", "openai"`` or ``"RN50/openai"`` or a Hugging Face CLIP id)."""
    from open_clip import pretrained as oc_pretrained

    if Path(name).expanduser().exists() or name.startswith(("local-dir:", "hf-hub:")):
        return None
    if pretrained is None and "/" in name:
        head, tail = name.rsplit("/", 1)
        if oc_pretrained.is_pretrained_cfg(head, tail):
            name, pretrained = head, tail
    if pretrained and oc_pretrained.is_pretrained_cfg(name, pretrained):
        return open_clip_weights(name, pretrained)
    if "/" in name and not (pretrained and Path(pretrained).expanduser().is_file()):
        return transformers_weights(name)
    return None


def profile_weights(cfg: Any) -> list[HubWeights]:
    """Every hub download a run with ``cfg`` makes: its CLIP, the models chapters 02, 04 and
    07 compare (chapter 02's accuracy and speed comparison included), its VLM."""
    if cfg.smoke:  # random weights and built stand-ins: nothing comes from a hub
        return []
    found = [clip_weights(cfg.clip_model, cfg.clip_pretrained)]
    found += [clip_weights(spec) for spec in _clip_specs(cfg)]
    if cfg.vlm_backend == "transformers" and cfg.vlm_model not in (TINY_VLM, TINY_SMOLVLM):
        found.append(transformers_weights(cfg.vlm_model))
    unique: dict[str, HubWeights] = {}
    for w in found:
        if w is not None:
            unique.setdefault(w.repo_id, replace(w, revision=pins.revision(w.repo_id, cfg)))
    return list(unique.values())


def _clip_specs(cfg: Any) -> tuple[str, ...]:
    return (*cfg.explore_models, *cfg.compare_models, *cfg.ensemble_models, *cfg.colour_models)


def tokenizer_repo(name: str) -> str | None:
    """The hub repository an open_clip architecture's tokenizer comes from (SigLIP's), or
    None where open_clip ships it (OpenAI's BPE) or ``name`` is not an open_clip name."""
    from open_clip import get_model_config

    config = get_model_config(name)
    return ((config or {}).get("text_cfg") or {}).get("hf_tokenizer_name") or None


def profile_repos(cfg: Any) -> list[str]:
    """Every hub repository a run with ``cfg`` downloads from: weights and tokenizers."""
    repos = [w.repo_id for w in profile_weights(cfg)]
    for spec in (cfg.clip_model, *_clip_specs(cfg)):
        repo = tokenizer_repo(spec.split("/")[0])  # "ViT-B-16-SigLIP/webli"; a HF id: None
        if repo:
            repos.append(repo)
    return list(dict.fromkeys(repos))


# -- the cache -------------------------------------------------------------------------------

def cached_file(repo_id: str, filename: str, revision: str = "main") -> Path | None:
    """``filename`` of ``repo_id`` at ``revision`` in the Hugging Face cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        path = try_to_load_from_cache(repo_id, filename, revision=revision)
    except Exception:  # noqa: BLE001 - a malformed cache means "not cached", not a crash
        return None
    return Path(path) if isinstance(path, str) else None


def _file_cached(repo_id: str, filename: str, revision: str) -> bool:
    """A file is cached; an index is cached when every shard it lists is too."""
    path = cached_file(repo_id, filename, revision)
    if path is None:
        return False
    if not filename.endswith(".index.json"):
        return True
    try:
        shards = set(json.loads(path.read_text())["weight_map"].values())
    except (OSError, ValueError, KeyError, AttributeError):
        return False
    return all(cached_file(repo_id, shard, revision) is not None for shard in shards)


def cached(weights: HubWeights) -> bool:
    """Every group of ``weights`` has a file in the Hugging Face cache (no network)."""
    return all(any(_file_cached(weights.repo_id, f, weights.revision) for f in group)
               for group in weights.files)


# -- the probe -------------------------------------------------------------------------------

_SILENT: dict[str, Probe] = {}  # endpoint -> how it failed: a silent hub is asked once per process


def _http_status(exc: BaseException) -> int | None:
    """The status of an HTTP answer huggingface_hub raised for, whatever its HTTP library."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        response = getattr(exc, "response", None)
        return int(getattr(response, "status_code", 0) or 0)
    return None


def probe(weights: HubWeights, timeout: float | None = None) -> Probe:
    """Ask the hub about ``weights``' first group, one HEAD per file, no retries.

    A 404 moves on to the next alternative (``.safetensors``, then ``.bin``); no answer at
    all stops at once: a silent network is not asked twice.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    where = endpoint()
    if where in _SILENT:
        return _SILENT[where]
    asked = (where, weights.repo_id, weights.revision, weights.files[0])
    if asked in _ANSWERED:
        return _ANSWERED[asked]
    timeout = _timeout() if timeout is None else timeout
    answers = []
    for filename in weights.files[0]:
        try:
            meta = get_hf_file_metadata(hf_hub_url(weights.repo_id, filename, revision=weights.revision),
                                        timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - sorted below into "answered" and "silent"
            status = _http_status(exc)
            if status is None:
                kind = type(exc).__name__
                how = f"did not answer within {timeout:g} s" if "Timeout" in kind else "could not be reached"
                result = Probe(False, f"the hub at {where} {how} ({kind})", silent=True)
                _SILENT[where] = result
                return result
            if type(exc).__name__ == "RevisionNotFoundError":
                return Probe(False, f"the hub at {where} has no revision {weights.revision} of "
                                    f"{weights.repo_id}; {_REPIN}")
            answers.append(f"{status} for {filename}")
            if status == 404:
                continue
            break
        if not meta.commit_hash:
            return Probe(False, f"{where} answered, but not as a Hugging Face hub does "
                                "(no X-Repo-Commit header)")
        _ANSWERED[asked] = Probe(True, f"the hub at {where} has {weights.label}",
                                 commit=meta.commit_hash)
        return _ANSWERED[asked]
    return Probe(False, f"the hub at {where} answered {', '.join(answers)} in {weights.repo_id}")


_REPIN = ("repin with `clipdistill pin --write`, or take the newest with "
          "--set pin_weights=false")
_ANSWERED: dict[tuple, Probe] = {}  # a yes, with its commit, is asked once per process


def forget_silence() -> None:
    """Ask a hub that stayed silent again (tests; a long-lived process after the network is back)."""
    _SILENT.clear()
    _ANSWERED.clear()


def commit(weights: HubWeights, cache_only: bool) -> str:
    """The commit ``weights.revision`` names: itself when it is one; else what the hub
    answered for it, or (cache only) what the cache last recorded for that branch."""
    if pins.is_commit(weights.revision):
        return weights.revision
    if not cache_only:
        answer = probe(weights)
        if answer.ok and answer.commit:
            return answer.commit
    ref = Path(cache_dir()) / f"models--{weights.repo_id.replace('/', '--')}" / "refs" / weights.revision
    if ref.is_file():
        return ref.read_text().strip()
    raise HubUnavailable(f"Cannot tell which commit {weights.revision!r} of {weights.repo_id} is: "
                         f"the hub did not say and the cache ({cache_dir()}) has no record of it.")


# -- decisions -------------------------------------------------------------------------------

_WAY_OUT = ("run with --profile smoke (random weights, nothing downloaded), or set "
            "HF_HUB_OFFLINE=1 once the weights are cached")


def require(weights: HubWeights | None) -> bool:
    """Make sure ``weights`` can be loaded before a loader starts downloading them.

    Raises :class:`HubUnavailable` (one sentence) in seconds when they are not cached and
    the hub does not have them for us. Returns True when only the cache can serve them
    (cached, and the hub is off or silent): the caller then loads with local files only
    instead of letting every file wait for its own timeout.
    """
    if weights is None:
        return False
    is_cached = cached(weights)
    if offline():
        if is_cached:
            return True
        raise HubUnavailable(
            f"{weights.label} ({weights.repo_id}) is not in the Hugging Face cache ({shown_cache_dir()}) "
            "and HF_HUB_OFFLINE is set: run once with the network (or a mirror in HF_ENDPOINT) to "
            "download it, or run with --profile smoke (random weights, nothing downloaded)."
        )
    answer = probe(weights)
    if answer.ok:
        return False
    if is_cached:
        _warn_once(f"{answer.reason}; using the cached {weights.label}. Set HF_HUB_OFFLINE=1 to "
                   "skip the hub entirely.")
        return True
    if answer.silent:
        raise HubUnavailable(
            f"Cannot download {weights.label} ({weights.repo_id}): {answer.reason}, so the network "
            f"or HF_ENDPOINT is the problem; fix it, {_WAY_OUT}."
        )
    raise HubUnavailable(
        f"Cannot download {weights.label} ({weights.repo_id}): {answer.reason}; check HF_ENDPOINT "
        f"and the repository name, or {_WAY_OUT}."
    )


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, stacklevel=3)


def weights_available(cfg: Any) -> tuple[bool, str]:
    """Can a run with ``cfg`` get every weight it needs? ``(yes, why)`` for ``auto``.

    Cached weights need no network; otherwise one probe decides (none when offline).
    """
    needed = profile_weights(cfg)
    missing = [w for w in needed if not cached(w)]
    if not missing:
        return True, (f"every model the {cfg.profile} profile needs is in the Hugging Face cache "
                      f"({shown_cache_dir()})")
    first = missing[0]
    if offline():
        return False, (f"HF_HUB_OFFLINE is set and {first.label} is not in the Hugging Face cache "
                       f"({shown_cache_dir()})")
    answer = probe(first)
    if answer.ok:
        return True, answer.reason
    return False, f"{answer.reason}, and {first.label} is not in the Hugging Face cache"

