"""The pool over real LoRA files: K cache, saving recipes, naming, file safety."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lib_stylemix.errors import CancelledError, StyleMixError
from lib_stylemix.lora import block_of, kernel, make_lora_file, open_lora
from lib_stylemix.pool.candidates import ADD_DIFFERENCE, CROSSOVER, EXTRAPOLATE, MIX
from lib_stylemix.pool.evolve import accept, evolve, propose
from lib_stylemix.pool.pool import Pool
from lib_stylemix.pool.saving import DIGEST_KEY
from lib_stylemix.pool.settings import EvolveSettings
from lib_stylemix.seams import CancelFlag
from tests.pool.conftest import SMALL_MODULES, dense_delta, make_small_files


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_pool_kernel_matches_engine_and_dense(small_files, tmp_path):
    pool = Pool.load([small_files[0].parent], cache_dir=tmp_path / "cache")
    files = [open_lora(p) for p in small_files]
    k = kernel(files)
    np.testing.assert_allclose(pool.space.total, k.total, rtol=1e-10)
    assert set(pool.space.blocks) == set(k.by_block)
    deltas = [dense_delta(f) for f in files]
    flat = np.stack([np.concatenate([d[m].ravel() for m in sorted(d)]) for d in deltas])
    np.testing.assert_allclose(pool.gram(), flat @ flat.T, rtol=1e-4)


def test_kernel_cache_is_reused_and_extended(small_files, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    Pool.load(small_files[:3], cache_dir=cache)
    import lib_stylemix.lora as engine

    calls = []
    real_kernel, real_cross = engine.kernel, engine.cross_kernel
    monkeypatch.setattr(engine, "kernel",
                        lambda files, **kw: calls.append(("k", len(files))) or real_kernel(files, **kw))
    monkeypatch.setattr(engine, "cross_kernel",
                        lambda a, b, **kw: calls.append(("x", len(a), len(b))) or real_cross(a, b, **kw))
    again = Pool.load(small_files[:3], cache_dir=cache)
    assert calls == []
    again.add([small_files[3]])
    assert calls == [("k", 1), ("x", 3, 1)]
    full = Pool.load(small_files, cache_dir=tmp_path / "fresh")
    np.testing.assert_allclose(again.space.total, full.space.total, rtol=1e-5, atol=1e-9)  # float32 products


def test_changed_file_gets_a_new_kernel_entry(tmp_path):
    folder = tmp_path / "loras"
    paths = make_small_files(folder, count=2)
    first = Pool.load([folder], cache_dir=tmp_path / "cache")
    make_lora_file(paths[1], rank=4, modules=SMALL_MODULES, seed=999, overwrite=True)
    second = Pool.load([folder], cache_dir=tmp_path / "cache")
    assert first.space.keys[1] != second.space.keys[1]
    assert not np.isclose(first.space.total[1, 1], second.space.total[1, 1])
    fresh = Pool.load([folder])
    np.testing.assert_allclose(second.space.total, fresh.space.total, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("kind", [MIX, EXTRAPOLATE, ADD_DIFFERENCE, CROSSOVER])
def test_saved_recipe_has_the_delta_its_recipe_says(small_files, tmp_path, kind):
    pool = Pool.load(small_files)
    settings = EvolveSettings(ratios=2, extrapolate=0.5, add_difference=True, crossover=True, keep=50,
                              strength_band=(0.0, 100.0))
    cand = next(c for c in propose(pool, settings) if c.kind == kind)
    member = accept(pool, [cand])[0]
    path = pool.save_recipe(member.name, tmp_path / "out", max_rank=64, dtype="fp32")
    saved = dense_delta(path)
    parents = {f.stem: dense_delta(f) for f in small_files}
    coef = {p: cand.coef[:, pool.space.keys.index(pool.history[p].recipe.roots[0])] for p in cand.parents}
    blocks = pool.space.blocks
    for module, got in saved.items():
        b = blocks.index(block_of(module, "sd1"))
        want = sum(coef[p][b] * parents[p][module] for p in cand.parents if module in parents[p])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
    assert member.retained_energy == pytest.approx(1.0)


def test_svd_compression_records_energy_and_rank(small_files, tmp_path):
    pool = Pool.load(small_files)
    cand = next(c for c in propose(pool, EvolveSettings(ratios=1, keep=1)) if c.status == "selected")
    member = accept(pool, [cand])[0]
    path = pool.save_recipe(member.name, tmp_path / "out", max_rank=2)
    saved = open_lora(path)
    assert saved.rank == 2
    assert 0 < member.retained_energy < 1
    assert float(saved.metadata["stylemix_retained_energy"]) == pytest.approx(member.retained_energy, rel=1e-5)
    assert saved.metadata[DIGEST_KEY] == member.recipe.digest()


def test_names_never_overwrite(small_files, tmp_path):
    pool = Pool.load(small_files)
    cand = next(c for c in propose(pool, EvolveSettings(ratios=1, keep=1)) if c.status == "selected")
    member = accept(pool, [cand])[0]
    out = tmp_path / "out"
    out.mkdir()
    assert member.name.startswith("sm_style") and len(member.name.rsplit("_", 1)[1]) == 8
    squatter = out / f"{member.name}.safetensors"
    squatter.write_bytes(b"not a lora")
    path = pool.save_recipe(member.name, out)
    assert path.name == f"{member.name}_2.safetensors"
    assert squatter.read_bytes() == b"not a lora"
    before = path.stat().st_mtime_ns
    energy = member.retained_energy
    member.path, member.retained_energy = None, None
    assert pool.save_recipe(member.name, out) == path  # same recipe found: reused, not rewritten
    assert member.retained_energy == pytest.approx(energy)
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in out.iterdir()) == sorted([squatter.name, path.name])


def test_inputs_untouched_and_cancel_leaves_no_partial_files(small_files, tmp_path):
    folder = small_files[0].parent
    before = _digests(folder)
    pool = Pool.load([folder])
    flag = CancelFlag()

    class CancelDuringSecondSave:
        """Cancels from inside the engine's merge of the second kept recipe."""

        def __init__(self):
            self.merges = 0

        def begin(self, total, text=""):
            if "writing" in text:
                self.merges += 1

        def step(self, done, text=""):
            if self.merges >= 2 and done >= 3:
                flag.cancel()

        def end(self, text=""):
            pass

    out = tmp_path / "out"
    settings = EvolveSettings(iterations=2, ratios=3, keep=2, max_rank=2)
    result = evolve(pool, settings, CancelDuringSecondSave(), flag, save_to=out)
    assert result.cancelled
    written = sorted(out.iterdir())
    assert len(written) == 1 and written[0].suffix == ".safetensors"
    assert open_lora(written[0]).metadata[DIGEST_KEY]
    assert not list(out.glob(".*"))
    assert _digests(folder) == before


def test_cancel_flag_raises_in_engine_when_saving(small_files, tmp_path):
    pool = Pool.load(small_files)
    member = accept(pool, [next(c for c in propose(pool, EvolveSettings()) if c.status == "selected")])[0]
    flag = CancelFlag()
    flag.cancel()
    with pytest.raises(CancelledError):
        pool.save_recipe(member.name, tmp_path / "out", cancel=flag)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_snapshot_resume_with_files(small_files, tmp_path):
    settings = EvolveSettings(iterations=3, ratios=2, keep=2, crossover=True, seed=5)
    full = Pool.load(small_files)
    evolve(full, settings)
    part = Pool.load(small_files)
    evolve(part, EvolveSettings.from_json(settings.to_json(), iterations=1))
    part.snapshot(tmp_path / "state.json", {"settings": settings.to_json()})
    resumed, doc = Pool.resume(tmp_path / "state.json")
    evolve(resumed, EvolveSettings.from_json(doc["settings"], iterations=2))
    assert resumed.names == full.names
    assert [m.score for m in resumed.members] == pytest.approx([m.score for m in full.members])


def test_resume_refuses_changed_or_missing_files(small_files, tmp_path):
    pool = Pool.load(small_files)
    pool.snapshot(tmp_path / "state.json")
    small_files[1].unlink()
    with pytest.raises(StyleMixError, match="gone"):
        Pool.resume(tmp_path / "state.json")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(StyleMixError, match="not a StyleMix pool snapshot"):
        Pool.resume(tmp_path / "bad.json")


def test_load_errors_name_the_problem(tmp_path, small_files):
    with pytest.raises(StyleMixError, match="no such file"):
        Pool.load([tmp_path / "missing.safetensors"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StyleMixError, match=r"no \.safetensors"):
        Pool.load([empty])
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 20)
    with pytest.raises(StyleMixError):
        Pool.load([broken])
    pool = Pool.load([str(small_files[0].parent / "style_*.safetensors")])
    assert len(pool) == 4
    assert pool.add([small_files[0]]) == []  # same file again: skipped
    pool.remove("style_1")
    assert [m.name for m in pool.add([small_files[1]])] == ["style_1"]  # removed file comes back
    assert pool.names.count("style_1") == 1
    assert len(pool) == 4


def test_a_broken_file_in_a_folder_is_skipped_not_fatal(tmp_path, small_files):
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in small_files[:2]:
        shutil.copy(f, folder / f.name)
    (folder / "0_broken.safetensors").write_bytes(b"\x00" * 20)
    pool = Pool.load([folder])
    assert len(pool) == 2
    assert [s.path.name for s in pool.skipped] == ["0_broken.safetensors"]
    assert "truncated" in pool.skipped[0].reason or "header" in pool.skipped[0].reason
    with pytest.raises(StyleMixError, match=r"--strict: .*0_broken"):
        Pool.load([folder], strict=True)
