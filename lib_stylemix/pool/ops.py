"""Pool use-cases for any front end (the Pool panel, the CLI, a ComfyUI node): they take core objects
(`Pool`, `Member`, `Recipe`, a txt2img generator) and return plain data, never widgets.

- `merge_to_file`: Σ wᵢ·memberᵢ written as one LoRA with its lineage (parents, generation, recipe) in the
  metadata, and added to the pool so it shows that lineage at once and after a reload;
- `member_summaries` / `lineage_text`: what each member is and where it came from;
- `block_geometry`: how two members differ block by block (exact from the per-block kernels);
- `prompt_stack`: the `(name, weight)` pairs whose `<lora:…>` tags render a recipe exactly;
- `render_previews`: the settings' preview prompts × seeds rendered with such a stack.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.fsutil import safe_child
from lib_stylemix.pool.lineage import lineage_metadata, source_recipe
from lib_stylemix.pool.members import FILE, Member
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.recipe import Recipe
from lib_stylemix.seams import CancelToken, Progress

if TYPE_CHECKING:
    from PIL import Image

    from lib_stylemix.pool.candidates import Candidate
    from lib_stylemix.seams import Txt2ImgGenerator
    from lib_stylemix.settings import StyleMixSettings

MERGE_ORIGIN = "merge"


def new_pool(cache_dir: Path | None) -> Pool:
    """An empty pool whose kernel K is cached in `cache_dir` (None: in memory only)."""
    from lib_stylemix.pool.kcache import KernelCache

    return Pool(cache=KernelCache(cache_dir))


@dataclass
class MergeRequest:
    """Merge pool members `names` with `weights` (one weight is repeated for all) into `<folder>/<out_name>`.

    `method` is any registered merge method and `options` its parameters (e.g. svd's rank/energy).
    """

    names: Sequence[str]
    weights: Sequence[float]
    out_name: str
    folder: Path
    method: str = "concat"
    options: Mapping[str, Any] = field(default_factory=dict)


def merge_target(folder: Path, out_name: str) -> Path:
    """`<folder>/<out_name>.safetensors`, refusing empty names, paths outside `folder` and existing files."""
    stem = out_name.strip()
    if stem.lower().endswith(".safetensors"):
        stem = stem[: -len(".safetensors")]
    if not stem:
        raise StyleMixError("give the merged LoRA a name")
    target = safe_child(folder, f"{stem}.safetensors")
    if target.exists():
        raise StyleMixError(f"{target}: already exists (choose another name; files are never overwritten)")
    return target


def merged_member(pool: Pool, names: Sequence[str], weights: Sequence[float], method: str) -> Member:
    """The in-memory member Σ wᵢ·memberᵢ with its lineage: parents, next generation, origin "merge"."""
    if not names:
        raise StyleMixError("select the members to merge")
    if len(weights) == 1 and len(names) > 1:
        weights = list(weights) * len(names)
    if len(weights) != len(names):
        raise StyleMixError(f"weights: {len(weights)} given for {len(names)} member(s); give one per member")
    parents = [pool.member(n) for n in names]
    recipe = pool.mix(parents, [float(w) for w in weights])
    if not recipe.terms:
        raise StyleMixError("every weight is zero: the merge would be empty")
    return Member(name="merge", recipe=recipe, kind=FILE, parents=tuple(dict.fromkeys(names)),
                  generation=1 + max(p.generation for p in parents),
                  origin={"kind": MERGE_ORIGIN, "method": method, "weights": [float(w) for w in weights]})


def merge_to_file(pool: Pool, request: MergeRequest, *, progress: Progress, cancel: CancelToken) -> Path:
    """Write the merge as a LoRA file (never over an existing one) and add it to the pool with its lineage.

    Recipe members are expanded into their root files first, so merging a child with a file is still the
    exact weighted sum of ΔW; the engine's method then writes it exactly (concat) or compressed (svd).
    """
    from lib_stylemix.lora import merge, merge_methods, write_lora
    from lib_stylemix.pool.saving import recipe_terms

    target = merge_target(request.folder, request.out_name)
    method = merge_methods.get(request.method)
    member = merged_member(pool, request.names, request.weights, method.name)
    roots = [pool.root(key) for key in member.recipe.roots]
    missing = [r.name for r in roots if r.lora is None]
    if missing:
        raise StyleMixError(f"cannot merge, file(s) not loaded: {', '.join(missing)}")
    merged = merge(recipe_terms({r.key: r for r in roots}, member.recipe), method=method.name,
                   options=request.options, progress=progress, cancel=cancel)
    metadata = lineage_metadata(member, pool.root_names(), stem=target.stem, max_rank=merged.rank,
                                retained_energy=merged.retained_energy, with_digest=method.effect_preserving)
    request.folder.mkdir(parents=True, exist_ok=True)
    written = write_lora(merged, target, extra_metadata=metadata, parents=[r.lora for r in roots], overwrite=False)
    pool.add([written.path])  # reads the lineage back from the metadata, as a later reload will
    return Path(written.path)


@dataclass
class MemberSummary:
    """One member as a front end lists it."""

    name: str
    kind: str
    arch: str
    rank: int | str  # a file's rank, "≤ n" for a recipe
    size_mb: str
    lineage: str


def member_summaries(pool: Pool) -> list[MemberSummary]:
    """Name, kind, arch, rank (a recipe's is at most the sum of its files'), size on disk, and lineage."""
    out = []
    for member in pool.members:
        ranks = [pool.root(key).rank or 0 for key in member.recipe.roots]
        rank: int | str = ranks[0] if member.kind == FILE and ranks else ("≤ " + str(sum(ranks)) if ranks else "")
        size = f"{member.path.stat().st_size / 1e6:.2f}" if member.path and member.path.is_file() else "in memory"
        out.append(MemberSummary(member.name, member.kind, pool.arch or "", rank, size, lineage_text(pool, member)))
    return out


def lineage_text(pool: Pool, member: Member) -> str:
    """"file x.safetensors" for a plain file, else "gen g: <formula>" (for a saved file: the recipe it was made
    from when its files are in the pool, otherwise its parents)."""
    names = pool.root_names()
    if member.kind == FILE and not member.parents:
        return f"file {member.path.name}" if member.path else "file"
    if member.kind != FILE:
        return f"gen {member.generation}: {member.recipe.describe(names)}"
    source = source_recipe(member)
    if source is not None and all(key in names for key in source.roots):
        return f"gen {member.generation}: {source.describe(names)}"
    return f"gen {member.generation}: from {' · '.join(member.parents) or 'unknown parents'}"


def recipe_formula(pool: Pool, member: Member) -> str:
    """The member's formula for lineage tables: its recipe, or the recipe a saved file was made from."""
    names = pool.root_names()
    source = source_recipe(member) if member.kind == FILE else None
    if source is not None and all(key in names for key in source.roots):
        return source.describe(names)
    return member.recipe.describe(names)


@dataclass
class BlockRow:
    """How two members differ in one block: their norms, distance, cosine and share of the total distance²."""

    block: str
    norm_a: float
    norm_b: float
    distance: float
    cosine: float
    share: float


def block_geometry(pool: Pool, a: str, b: str) -> list[BlockRow]:
    """Per block, ‖a‖, ‖b‖, ‖a − b‖ and cos(a, b), exact from the per-block kernels."""
    from lib_stylemix.lora.metrics import cosine_from_gram, sq_distances_from_gram

    if not a or not b:
        raise StyleMixError("pick two members for the per-block view")
    grams = pool.block_grams([pool.member(a), pool.member(b)])
    per_block = []
    for block, g in grams:
        norms = np.sqrt(np.maximum(np.diag(g), 0.0))
        per_block.append((block, norms, float(sq_distances_from_gram(g)[0, 1]), float(cosine_from_gram(g)[0, 1])))
    total = sum(d2 for _, _, d2, _ in per_block)
    return [BlockRow(block, float(n[0]), float(n[1]), float(np.sqrt(d2)), cos, d2 / total if total > 0 else 0.0)
            for block, n, d2, cos in per_block]


def prompt_stack(pool: Pool, recipe: Recipe, lora_folder: Path, label: str = "this recipe") -> list[tuple[str, float]]:
    """`(name, weight)` pairs whose `<lora:…>` tags render `recipe` exactly (prompt stacking).

    Exactness needs one weight per file: per-block recipes (crossovers) cannot be written as tags, and every
    file must be in the host's LoRA folder for the webui to find it by name.
    """
    loras = []
    outside = []
    folder = lora_folder.resolve()
    for key, weight, block_weights in recipe.merge_weights():
        root = pool.root(key)
        if block_weights is not None:
            raise StyleMixError(f"{label} has per-block weights; <lora:…> tags cannot express it. Keep and save "
                                "it, then try the saved file.")
        if root.path is None or folder not in root.path.resolve().parents:
            outside.append(str(root.path or root.name))
        loras.append((root.path.stem if root.path else root.name, weight))
    if outside:
        raise StyleMixError(f"preview needs the files in the LoRA folder {folder}; not there: {', '.join(outside)}")
    return loras


PREVIEW_PREFIX = "stylemix_preview_"


def candidate_preview(pool: Pool, cand: Candidate, lora_folder: Path, label: str, *, progress: Progress,
                      cancel: CancelToken) -> tuple[list[tuple[str, float]], Path | None]:
    """Tags that render a proposed candidate, and the temporary file they need (None for prompt stacking).

    One weight per file: exact `<lora:a:w1> <lora:b:w2>` stacking. Per-block weights (orthogonal, split,
    crossover) or a derived root (spectral) cannot be tags: the candidate is written, energy ≥ 0.99, as
    `stylemix_preview_<hash>.safetensors` in the LoRA folder; the caller deletes it after rendering.
    """
    from lib_stylemix.pool.members import RECIPE
    from lib_stylemix.pool.saving import SaveOptions, save_member

    if cand.derived is None and cand.recipe.uniform:
        return prompt_stack(pool, cand.recipe, lora_folder, label), None
    if cand.derived is not None:
        pool.adopt_derived(cand.derived, cand.space)
    member = Member(f"{PREVIEW_PREFIX}{cand.recipe.digest()[:8]}", cand.recipe, kind=RECIPE, parents=cand.parents,
                    origin={"operator": cand.kind, "preview": True})
    path = save_member(pool, member, lora_folder, SaveOptions(), progress, cancel)
    return [(path.stem, 1.0)], path


def render_previews(
    generator: Txt2ImgGenerator,
    loras: Sequence[tuple[str, float]],
    settings: StyleMixSettings,
    *,
    progress: Progress,
    cancel: CancelToken,
) -> list[tuple[Image.Image, str]]:
    """Render the settings' preview prompts × seeds with the `<lora:…>` tags of `loras` stacked in."""
    from lib_stylemix.seams import Txt2ImgRequest

    jobs = [(prompt, seed) for prompt in settings.preview_prompts for seed in settings.preview_seeds]
    progress.begin(len(jobs), "preview")
    out: list[tuple[Image.Image, str]] = []
    for done, (prompt, seed) in enumerate(jobs, 1):
        if cancel.cancelled():
            raise CancelledError(f"preview stopped after {done - 1} of {len(jobs)} image(s)")
        request = Txt2ImgRequest(prompt=prompt, negative=settings.negative_prompt, seed=seed, sampler=settings.sampler,
                                 steps=settings.steps, cfg=settings.cfg_scale, width=settings.width,
                                 height=settings.height, loras=tuple(loras))
        for image in generator.generate(request):
            out.append((image.image, f"{prompt} · seed {seed}"))
        progress.step(done, f"preview {done}/{len(jobs)}")
    progress.end("preview done")
    return out
