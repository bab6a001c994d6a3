"""Classification heads over query embeddings, and their on-disk artifact.

Two kinds, one interface — ``head(embed [N, D]) -> logits [N, K+1]`` (last
column = no-object), with calibrated stacking (subtract ``gamma`` from the
seen-class logits) applied inside ``forward``:

* :class:`LinearHead` — Linear(D -> K+1), Mask2Former's own class head shape
  (PADing's classifier refit starts from the checkpoint's weights).
* :class:`ProjectorHead` — semantic-centric class projector: MLP D -> Dt,
  cosine similarity with fixed unit-norm class embeddings [K, Dt] divided by
  a temperature, plus a learned no-object logit Linear(D -> 1).

Artifact (a directory)::

    HEAD/config.json     kind, dims, tau, gamma, vocab/segmenter/store identity
    HEAD/weights.pt      state_dict (torch.save)
    HEAD/manifest.json   provenance (make_head_manifest; read back by head_manifest)

Used by generate (PADing schedule writes a head), adapt, evaluate, diagnose.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zs.errors import ProvenanceError, ZsError
from zs.manifest import make_manifest, read_json

HEAD_FORMAT = 1
HEAD_MANIFEST_KIND = "zs-head"


@dataclasses.dataclass
class HeadConfig:
    kind: str  # "linear" | "projector"
    query_dim: int  # D
    num_classes: int  # K (no-object excluded)
    seen: list[bool]  # [K] seen flags (for calibrated stacking)
    gamma: float = 0.0  # calibrated stacking: subtracted from seen-class logits
    # projector only
    text_dim: int = 0  # Dt
    hidden_dim: int = 0  # projector MLP hidden size (0 = single Linear)
    tau: float = 0.07  # cosine-logit temperature (training losses use it as is)
    logit_scale: float = 1.0  # inference: class logits = cos / tau * logit_scale (fitted by adapt, 1 = off)
    # identity: what the head may be applied to
    vocab_sha256: str = ""
    segmenter_sha256: str = ""
    store_sha256: str = ""
    method: str = ""


class _CalibratedHead(nn.Module):
    """Shared: seen mask buffer, calibrated stacking, probabilities."""

    def __init__(self, cfg: HeadConfig):
        super().__init__()
        self.cfg = cfg
        if len(cfg.seen) != cfg.num_classes:
            raise ZsError(f"head config: len(seen)={len(cfg.seen)} != num_classes={cfg.num_classes}")
        self.register_buffer("seen_mask", torch.tensor(cfg.seen, dtype=torch.bool), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    def raw_logits(self, embed: torch.Tensor) -> torch.Tensor:  # [N, D] -> [N, K+1]
        raise NotImplementedError

    def forward(self, embed: torch.Tensor) -> torch.Tensor:
        logits = self.raw_logits(embed)  # [N, K+1]
        if self.cfg.gamma:
            shift = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
            shift[: self.cfg.num_classes][self.seen_mask] = self.cfg.gamma
            logits = logits - shift
        return logits

    @torch.no_grad()
    def class_probs(self, embed: torch.Tensor) -> torch.Tensor:
        """Softmax over K+1 classes (calibration applied): [N, D] -> [N, K+1]."""
        return self.forward(embed.float()).softmax(-1)


class LinearHead(_CalibratedHead):
    """Linear(D -> K+1): Mask2Former's class head."""

    def __init__(self, cfg: HeadConfig):
        super().__init__(cfg)
        self.fc = nn.Linear(cfg.query_dim, cfg.num_classes + 1)

    def raw_logits(self, embed: torch.Tensor) -> torch.Tensor:
        return self.fc(embed)


class ProjectorHead(_CalibratedHead):
    """MLP D -> Dt; logits_k = cos(proj(e), A_k) / tau * logit_scale; no-object from Linear(D -> 1)."""

    def __init__(self, cfg: HeadConfig, class_embed: torch.Tensor | None = None):
        super().__init__(cfg)
        if cfg.text_dim <= 0:
            raise ZsError("projector head config needs text_dim > 0")
        if cfg.hidden_dim > 0:
            self.projector = nn.Sequential(
                nn.Linear(cfg.query_dim, cfg.hidden_dim), nn.ReLU(), nn.Linear(cfg.hidden_dim, cfg.text_dim)
            )
        else:
            self.projector = nn.Sequential(nn.Linear(cfg.query_dim, cfg.text_dim))
        self.no_object = nn.Linear(cfg.query_dim, 1)
        if class_embed is None:
            class_embed = torch.zeros(cfg.num_classes, cfg.text_dim)
        if tuple(class_embed.shape) != (cfg.num_classes, cfg.text_dim):
            raise ZsError(
                f"class embeddings {tuple(class_embed.shape)} do not fit head (K={cfg.num_classes}, Dt={cfg.text_dim})"
            )
        self.register_buffer("class_embed", F.normalize(class_embed.float(), dim=-1))  # [K, Dt]

    def project(self, embed: torch.Tensor) -> torch.Tensor:
        """[N, D] -> unit-norm [N, Dt]."""
        return F.normalize(self.projector(embed), dim=-1)

    def raw_logits(self, embed: torch.Tensor) -> torch.Tensor:
        cls = self.project(embed) @ self.class_embed.t() / self.cfg.tau  # [N, K]
        if self.cfg.logit_scale != 1.0:
            cls = cls * self.cfg.logit_scale
        return torch.cat([cls, self.no_object(embed)], dim=-1)  # [N, K+1]


def build_head(cfg: HeadConfig, class_embed: torch.Tensor | None = None) -> _CalibratedHead:
    if cfg.kind == "linear":
        return LinearHead(cfg)
    if cfg.kind == "projector":
        return ProjectorHead(cfg, class_embed)
    raise ZsError(f"unknown head kind '{cfg.kind}' (expected 'linear' or 'projector')")


def save_head(head: _CalibratedHead, out_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write config.json, weights.pt and manifest.json into ``out_dir``."""
    from zs.artifact import save_module

    return save_module(head, head.cfg, HEAD_FORMAT, out_dir, manifest)


def is_head_dir(path: str | os.PathLike) -> bool:
    """True where ``path`` holds a finished head (config.json and weights.pt)."""
    p = Path(path)
    return (p / "config.json").is_file() and (p / "weights.pt").is_file()


def load_head(path: str | os.PathLike) -> _CalibratedHead:
    """Load a head artifact directory on the CPU (callers move it: ``.to(device)``); a clear ZsError
    if it is not one or holds NaN/Inf weights."""
    p = Path(path)
    if not is_head_dir(p):
        raise ZsError(f"{p}: not a zs head (expected config.json and weights.pt)")
    from zs.artifact import load_torch_file, read_config

    cfg = read_config(p, HeadConfig, HEAD_FORMAT, kind=HEAD_MANIFEST_KIND)
    try:
        head = build_head(cfg)
    except ZsError as e:
        raise ZsError(f"{p / 'config.json'}: {e}") from None
    state = load_torch_file(p / "weights.pt", what="head weights")
    try:
        head.load_state_dict(state)
    except RuntimeError as e:
        first = " ".join(str(e).split())  # torch lists every key on its own line
        raise ZsError(f"{p}/weights.pt does not fit its config.json: {first[:300]}") from None
    from zs.guard import require_finite_weights

    require_finite_weights(head, f"head {path}")  # a diverged head is refused wherever it is loaded
    head.source = os.fspath(path)  # names the head in check_head_fits' messages
    head.eval()
    return head


@dataclasses.dataclass(frozen=True)
class HeadTarget:
    """What a head is to be applied to (``Store.identity`` has the same four attributes)."""

    query_dim: int  # D; 0 = unknown (not compared)
    num_classes: int  # K
    vocab_sha256: str = ""  # "" = unknown (not compared)
    segmenter_sha256: str = ""


def check_head_fits(head, target, *, where: str) -> None:
    """Refuse (ProvenanceError, one line) a head made for another query size, class count, vocabulary
    or segmenter than ``target``'s.

    ``head``: a head module (``load_head`` names it by its directory), a :class:`HeadConfig`, or a
    head directory. ``target``: ``store.identity``, a :class:`HeadTarget`, or any object with
    ``query_dim``, ``num_classes``, ``vocab_sha256``, ``segmenter_sha256``; identity fields empty
    on either side are not compared. ``where`` names the target ("store URL", "segmenter DIR").
    """
    cfg, name = _head_cfg_and_name(head)
    q, k = int(target.query_dim or 0), int(target.num_classes)
    if q and cfg.query_dim != q:
        raise ProvenanceError(f"{name} expects query dim {cfg.query_dim}, {where} has {q}")
    if cfg.num_classes != k:
        raise ProvenanceError(f"{name} has {cfg.num_classes} classes, {where} has {k}")
    vocab, seg = target.vocab_sha256 or "", target.segmenter_sha256 or ""
    if cfg.vocab_sha256 and vocab and cfg.vocab_sha256 != vocab:
        raise ProvenanceError(f"{name}: vocabulary {cfg.vocab_sha256[:12]} differs from the vocabulary "
                              f"{vocab[:12]} of {where}")
    if cfg.segmenter_sha256 and seg and cfg.segmenter_sha256 != seg:
        raise ProvenanceError(f"{name} was fitted on segmenter {cfg.segmenter_sha256[:12]}, {where} comes "
                              f"from segmenter {seg[:12]}")


def _head_cfg_and_name(head) -> tuple[HeadConfig, str]:
    if isinstance(head, HeadConfig):
        return head, "head"
    if isinstance(head, (str, os.PathLike)):
        from zs.artifact import read_config

        return read_config(Path(head), HeadConfig, HEAD_FORMAT), f"head {os.fspath(head)}"
    source = getattr(head, "source", None)
    return head.cfg, f"head {source}" if source else "head"


def make_head_manifest(cfg: HeadConfig, *, method: str | None = None, config=None, seed: int | None = None,
                       store: dict | None = None,
                       segmenter: dict | None = None, generator: dict | None = None,
                       init_head: dict | None = None, inputs: dict | None = None, **extra) -> dict:
    """The manifest of a head directory, one shape whichever stage writes it.

    ``kind`` "zs-head", ``method`` (default ``cfg.method``), ``head`` {kind, gamma}, ``config`` (the
    writer's config; default ``cfg``), ``seed``, ``inputs`` with those of ``store`` {path, sha256},
    ``segmenter`` {path, sha256}, ``generator`` {path, manifest | sha256}, ``init_head`` {path,
    manifest} that are given, plus any other ``inputs`` (e.g. a converted checkpoint's files);
    ``extra`` keys as they are (training, calibration, final_losses, source).
    """
    given = {"store": store, "segmenter": segmenter, "generator": generator, "init_head": init_head}
    inputs = {**(inputs or {}), **{k: v for k, v in given.items() if v is not None}}
    return make_manifest(HEAD_MANIFEST_KIND, config=cfg if config is None else config, inputs=inputs, seed=seed,
                         method=cfg.method if method is None else method,
                         head={"kind": cfg.kind, "gamma": cfg.gamma}, **extra)


def head_manifest(path: str | os.PathLike, *, missing_ok: bool = False) -> dict:
    """A head directory's manifest in the shape of :func:`make_head_manifest` (older shapes normalised:
    ``inputs.store`` / ``inputs.generator`` as bare strings, a top-level ``generator``); ``{}`` when
    there is none and ``missing_ok``."""
    p = Path(path) / "manifest.json"
    if missing_ok and not p.is_file():
        return {}
    return normalise_head_manifest(read_json(p))


def normalise_head_manifest(m: dict) -> dict:
    m = dict(m)
    inputs = dict(m.get("inputs") or {})
    if "generator" in m and "generator" not in inputs:
        inputs["generator"] = m.pop("generator")
    for key, field in (("store", "sha256"), ("generator", "path"), ("segmenter", "sha256")):
        if isinstance(inputs.get(key), str):
            inputs[key] = {field: inputs[key]}
    m["inputs"] = inputs
    config = m.get("config") if isinstance(m.get("config"), dict) else {}
    m.setdefault("method", config.get("method", ""))
    if "head" not in m and "kind" in config:
        m["head"] = {"kind": config["kind"], "gamma": config.get("gamma", 0.0)}
    return m
