"""Parsing sd-scripts console lines and splitting the raw byte stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lib_stylemix.training.progress import LineSplitter, ProgressParser


def test_parses_the_lines_a_run_prints():
    parser = ProgressParser(epochs=10)
    start = parser.feed("  total optimization steps / 学習ステップ数: 7650")
    assert (start.kind, start.total, start.percent) == ("start", 7650, 0.0)
    assert parser.feed("  num epochs / epoch数: 10").epochs == 10
    epoch = parser.feed("epoch 3/10")
    assert (epoch.kind, epoch.epoch, epoch.epochs) == ("epoch", 3, 10)
    step = parser.feed("steps:  25%|█████▍      | 1938/7650 [32:27<1:35:39,  1.00s/it, avr_loss=0.103]")
    assert (step.kind, step.step, step.total, step.loss) == ("step", 1938, 7650, 0.103)
    assert step.eta_s == 1 * 3600 + 35 * 60 + 39
    assert abs(step.percent - 100 * 1938 / 7650) < 1e-9
    assert step.epoch == 3  # carried over from the epoch line
    saved = parser.feed("saving checkpoint: /out/s-000003.safetensors")
    assert (saved.kind, saved.new_file, saved.files) == (
        "file",
        "/out/s-000003.safetensors",
        ("/out/s-000003.safetensors",),
    )
    assert parser.feed("epoch 4/10").new_file is None
    assert parser.feed("model saved.").kind == "saved" and parser.model_saved


def test_initial_bar_and_rates():
    parser = ProgressParser()
    first = parser.feed("steps:   0%|          | 0/20 [00:00<?, ?it/s]")
    assert (first.step, first.total, first.eta_s, first.loss, first.percent) == (0, 20, None, None, 0.0)
    fast = parser.feed("steps:  50%|█████     | 10/20 [00:02<00:02,  4.71it/s, avr_loss=1.2e-05]")
    assert fast.loss == 1.2e-05 and fast.eta_s == 2.0
    nan = parser.feed("steps:  55%|█████     | 11/20 [00:02<00:02,  4.71it/s, avr_loss=nan]")
    assert nan.step == 11 and nan.loss != nan.loss  # NaN loss is reported, not dropped


def test_caching_bars_and_chatter_are_not_progress():
    parser = ProgressParser()
    for line in (
        "100%|██████████| 12/12 [00:03<00:00,  3.91it/s]",
        "caching latents...",
        "epoch validation steps:  50%|█| 1/2 [00:00<00:00]",
    ):
        event = parser.feed(line)
        assert event.kind == "line" and event.step is None


def test_epoch_percent_when_no_step_total_is_known():
    parser = ProgressParser()
    assert parser.feed("epoch 6/20").percent == 25.0


def test_no_data_line_is_recognised():
    parser = ProgressParser()
    event = parser.feed(
        "No data found. Please verify arguments (train_data_dir must be the parent of folders with images)"
    )
    assert event.kind == "no_data" and parser.no_data_line.startswith("No data found")


def test_splitter_handles_cr_only_updates_and_split_chunks():
    splitter = LineSplitter()
    data = "epoch 1/2\nsteps:  50%|█| 1/2 [00:01<00:01]\rsteps: 100%|█| 2/2 [00:02<00:00]\r\n学習開始\n".encode()
    lines = []
    for i in range(len(data)):  # one byte at a time: cuts UTF-8 sequences and the \r\n pair
        lines += splitter.feed(data[i : i + 1])
    lines += splitter.flush()
    assert lines == ["epoch 1/2", "steps:  50%|█| 1/2 [00:01<00:01]", "steps: 100%|█| 2/2 [00:02<00:00]", "学習開始"]


def test_splitter_flushes_the_last_partial_line_and_replaces_bad_bytes():
    splitter = LineSplitter()
    assert splitter.feed(b"abc\xff\xfe") == []
    assert splitter.flush() == ["abc\ufffd\ufffd"]


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), min_size=1),
        max_size=8,
    ),
    seps=st.lists(st.sampled_from(["\n", "\r", "\r\n", "\n\n", "\r\r\n"]), min_size=8, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_splitter_is_independent_of_chunking(lines, seps, cuts):
    data = "".join(line + sep for line, sep in zip(lines, seps, strict=False)).encode("utf-8")
    expected = [line for line in lines if line.strip()]
    splitter = LineSplitter()
    got: list[str] = []
    start = 0
    for cut in sorted(set(c for c in cuts if c < len(data))):
        got += splitter.feed(data[start:cut])
        start = cut
    got += splitter.feed(data[start:])
    got += splitter.flush()
    assert got == expected
