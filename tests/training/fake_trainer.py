"""Stand-in for sd-scripts' train_network.py / sdxl_train_network.py (and for `accelerate launch`).

Accepts `--config_file x.toml` plus flags, reads output_dir/output_name/max_train_epochs/save_every_n_epochs from
the TOML, prints the lines sd-scripts prints (bilingual start block, `epoch i/N`, tqdm `steps:` bars redrawn with
`\\r` only on stderr, `saving checkpoint: …` *before* the file is written, sample-image generation with the
pipeline's unlabelled bars, `model saved.`) and writes small valid `.safetensors` files with `ss_epoch`
metadata, in place and in two parts like the real trainer (a signal in between leaves a cut file).

Behaviour via environment variables:
  FAKE_MODE=ok|fail|hang|nodata|badimage|offline   (default ok; badimage: ZeroDivisionError after a line
                                  naming the image; offline: the Hugging Face tokenizer download fails)
  FAKE_FAIL_AT_EPOCH=N            fail with a traceback at the start of epoch N (mode fail; default 2)
  FAKE_STEPS_PER_EPOCH=N          (default 4)
  FAKE_STEP_DELAY=S               seconds per step (default 0)
  FAKE_SPAWN_CHILD=1              run the training in a child process, like `accelerate launch` does
  FAKE_DETACH_PARENT=1            with FAKE_SPAWN_CHILD: the launcher exits (code 1) while its child keeps running
  FAKE_IGNORE_TERM=1              ignore SIGTERM (to exercise the SIGKILL escalation)
  FAKE_PID_FILE=path              append "pid" lines for this process and its child
  FAKE_WRITE_DELAY=S              pause S seconds half-way through writing each LoRA file (default 0)
  FAKE_WRITING_FILE=path          touched when the first half of a LoRA file is on disk (tests wait for it)
  FAKE_KILL_AT_EPOCH=N            SIGKILL itself at the start of epoch N (the kernel's OOM killer)
  FAKE_SAMPLES=N                  generate N sample images after every epoch (prompt lines + pipeline bars)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from safetensors.numpy import save


def read_flat_toml(text: str) -> dict:
    """The flat `key = value` TOML StyleMix writes; its strings, numbers, booleans and arrays are valid JSON."""
    config = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            config[key.strip()] = json.loads(value)
    return config


def record_pid() -> None:
    path = os.environ.get("FAKE_PID_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")


def write_lora(path: str, epoch: int, epochs: int, name: str) -> None:
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": np.full((4, 8), 0.01 * epoch, np.float16),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": np.zeros((8, 4), np.float16),
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": np.array(2.0, np.float16),
    }
    metadata = {"ss_epoch": str(epoch), "ss_num_epochs": str(epochs), "ss_output_name": name}
    data = save(tensors, metadata=metadata)
    half = len(data) // 2
    with open(path, "wb") as handle:  # in place, like safetensors' save_file in the real trainer
        handle.write(data[:half])
        handle.flush()
        marker = os.environ.get("FAKE_WRITING_FILE")
        if marker:  # written whole, then renamed, so a watcher never reads it half-written
            with open(marker + ".tmp", "w", encoding="utf-8") as note:
                note.write(path)
            os.replace(marker + ".tmp", marker)
        time.sleep(float(os.environ.get("FAKE_WRITE_DELAY", "0")))
        handle.write(data[half:])


def generate_samples(step: int, count: int) -> None:
    """What sd-scripts prints while it makes sample images: logger lines on stdout, pipeline bars on stderr."""
    print(f"\ngenerating sample images at step / サンプル画像生成 ステップ: {step}", flush=True)
    for index in range(count):
        print(f"prompt: a sample picture number {index}", flush=True)
        print("negative_prompt: lowres", flush=True)
        print("sample_steps: 4", flush=True)
        for done in range(5):
            sys.stderr.write(f"\r{done * 25:3d}%|{'█' * done * 2:<10}| {done}/4 [00:00<00:00, 9.00it/s]")
            sys.stderr.flush()
        sys.stderr.write("\n")


def train(config: dict) -> int:
    mode = os.environ.get("FAKE_MODE", "ok")
    if os.environ.get("FAKE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record_pid()
    out_dir, name = config["output_dir"], config["output_name"]
    epochs = int(config.get("max_train_epochs", 2))
    every = config.get("save_every_n_epochs")
    per_epoch = int(os.environ.get("FAKE_STEPS_PER_EPOCH", "4"))
    delay = float(os.environ.get("FAKE_STEP_DELAY", "0"))
    print("import network module: networks.lora", flush=True)
    if mode == "offline":
        print("prepare tokenizer", flush=True)
        print("Traceback (most recent call last):", flush=True)
        print("OSError: We couldn't connect to 'https://huggingface.co' to load this file, couldn't find it in the "
              "cached files and it looks like openai/clip-vit-large-patch14 is not the path to a directory "
              "containing a file named vocab.json.", flush=True)
        return 1
    if mode == "badimage":
        bad = os.path.join(config.get("train_data_dir", "."), "10_style", "broken.png")
        print(f"Error loading file: {bad}", flush=True)
        print("Traceback (most recent call last):", flush=True)
        print('  File "library/train_util.py", line 1000, in make_buckets', flush=True)
        print("ZeroDivisionError: division by zero", flush=True)
        return 1
    if mode == "nodata":
        print(
            "No data found. Please verify arguments (train_data_dir must be the parent of folders with images) "
            "/ 画像がありません。引数指定を確認してください（train_data_dirには画像があるフォルダではなく、"
            "画像があるフォルダの親フォルダを指定する必要があります）",
            flush=True,
        )
        return 0
    total = epochs * per_epoch
    print("running training / 学習開始")
    print(f"  num train images * repeats / 学習画像の数×繰り返し回数: {per_epoch * 2}")
    print("  num reg images / 正則化画像の数: 0")
    print(f"  num batches per epoch / 1epochのバッチ数: {per_epoch}")
    print(f"  num epochs / epoch数: {epochs}")
    print("  batch size per device / バッチサイズ: 2")
    print("  gradient accumulation steps / 勾配を合計するステップ数 = 1")
    print(f"  total optimization steps / 学習ステップ数: {total}", flush=True)
    os.makedirs(out_dir, exist_ok=True)
    err = sys.stderr
    err.write(f"steps:   0%|          | 0/{total} [00:00<?, ?it/s]")
    err.flush()
    step = 0
    for epoch in range(1, epochs + 1):
        print(f"\nepoch {epoch}/{epochs}", flush=True)
        if epoch == int(os.environ.get("FAKE_KILL_AT_EPOCH", "0")):
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "fail" and epoch == int(os.environ.get("FAKE_FAIL_AT_EPOCH", "2")):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if mode == "hang":
            while True:
                time.sleep(0.1)
        for _ in range(per_epoch):
            time.sleep(delay)
            step += 1
            pct = 100 * step // total
            bar = "█" * (pct // 10) + " " * (10 - pct // 10)
            loss = 0.2 / (1 + step)
            timing = f"[00:0{step % 10}<00:03,  4.00it/s, avr_loss={loss:.3g}]"
            err.write(f"\rsteps: {pct:3d}%|{bar}| {step}/{total} {timing}")
            err.flush()
        if int(os.environ.get("FAKE_SAMPLES", "0")):
            generate_samples(step, int(os.environ["FAKE_SAMPLES"]))
        if every and epoch % int(every) == 0 and epoch < epochs:
            path = os.path.join(out_dir, f"{name}-{epoch:06d}.safetensors")
            print(f"\nsaving checkpoint: {path}", flush=True)
            write_lora(path, epoch, epochs, name)
    path = os.path.join(out_dir, f"{name}.safetensors")
    print(f"\nsaving checkpoint: {path}", flush=True)
    write_lora(path, epochs, epochs, name)
    print("model saved.", flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config_file", required=True)
    args, _unknown = parser.parse_known_args()
    path = args.config_file if args.config_file.endswith(".toml") else args.config_file + ".toml"
    if not os.path.exists(path):
        print(f"{path} not found.", flush=True)
        return 1
    with open(path, encoding="utf-8") as handle:
        config = read_flat_toml(handle.read())
    if os.environ.get("FAKE_SPAWN_CHILD") and not os.environ.get("FAKE_IS_CHILD"):
        record_pid()
        if os.environ.get("FAKE_IGNORE_TERM"):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        env = {**os.environ, "FAKE_IS_CHILD": "1"}
        if os.environ.get("FAKE_DETACH_PARENT"):
            subprocess.Popen([sys.executable, *sys.argv], env=env)
            pid_file = os.environ.get("FAKE_PID_FILE")
            deadline = time.monotonic() + 20
            while pid_file and time.monotonic() < deadline:  # until the child has recorded itself
                with open(pid_file, encoding="utf-8") as handle:
                    if len(handle.read().split()) >= 2:
                        break
                time.sleep(0.05)
            print("launcher: lost track of the trainer", flush=True)
            return 1
        code = subprocess.call([sys.executable, *sys.argv], env=env)
        if code != 0:
            print(f"subprocess.CalledProcessError: Command '{sys.argv}' returned non-zero exit status {code}.")
            return 1
        return 0
    return train(config)


if __name__ == "__main__":
    sys.exit(main())
