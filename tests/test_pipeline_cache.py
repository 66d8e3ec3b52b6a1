"""The pipeline cache on disk (runtime/vulkan/vk_pipeline_cache.cc): written
after a process created pipelines, loaded by the next one, and robust to
corrupt, foreign and concurrently written files. Driven through
`kernel_bench --pipelines` (no TensorFlow, one fresh process per run) and
through TensorFlow for the Python API."""
import glob
import json
import os
import struct
import subprocess
import sys

import pytest

from conftest import ROOT

KERNEL_BENCH = os.path.join(ROOT, "bazel-bin", "tools", "kernel_bench")
HEADER = 40  # magic, format, reserved, key, size, checksum


def run(cache_dir, offset=0, limit=8, **env_extra):
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TFMP_CACHE_DIR=str(cache_dir))
    env.update(env_extra)
    r = subprocess.run([KERNEL_BENCH, "--pipelines", "--threads", "2", "--offset", str(offset),
                        "--limit", str(limit)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["failed"] == 0 and out["kernels"] == limit, out
    return out


def cache_files(d):
    return sorted(glob.glob(os.path.join(str(d), "vk-*.bin")))


def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & (2**64 - 1)
    return h


def rewrite(path, mutate):
    """Applies mutate(bytearray of the driver's data) and fixes our header's size and checksum."""
    raw = bytearray(open(path, "rb").read())
    data = bytearray(raw[HEADER:])
    mutate(data)
    raw = raw[:HEADER] + data
    struct.pack_into("<QQ", raw, 24, len(data), fnv(data))
    open(path, "wb").write(bytes(raw))


def test_cold_then_warm(tmp_path):
    cold = run(tmp_path)
    assert not cold["cache_loaded"] and cold["save_error"] == ""
    files = cache_files(tmp_path)
    assert files == [cold["cache_path"]], files
    raw = open(files[0], "rb").read()
    assert raw[:8] == b"TFMPVKPC" and struct.unpack_from("<Q", raw, 24)[0] == len(raw) - HEADER
    # The driver's VkPipelineCacheHeaderVersionOne follows our header.
    length, version = struct.unpack_from("<II", raw, HEADER)
    assert length >= 32 and version == 1
    warm = run(tmp_path)
    assert warm["cache_loaded"] and warm["cache_path"] == cold["cache_path"]
    assert not glob.glob(os.path.join(str(tmp_path), "*.tmp.*")), "a temporary file was left"


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "garbage", "empty",
                                    "foreign key", "other vendor in the Vulkan header"])
def test_damaged_or_foreign_files_are_ignored_and_replaced(tmp_path, damage):
    path = run(tmp_path)["cache_path"]
    raw = bytearray(open(path, "rb").read())
    if damage == "flipped byte":
        raw[len(raw) // 2] ^= 0x40
        open(path, "wb").write(bytes(raw))
    elif damage == "truncated":
        open(path, "wb").write(bytes(raw[:len(raw) // 2]))
    elif damage == "garbage":
        open(path, "wb").write(os.urandom(len(raw)))
    elif damage == "empty":
        open(path, "wb").close()
    elif damage == "foreign key":  # a valid file of another build or device under our name
        struct.pack_into("<Q", raw, 16, struct.unpack_from("<Q", raw, 16)[0] ^ 1)
        open(path, "wb").write(bytes(raw))
    else:  # our header is intact, the driver's names another vendor
        rewrite(path, lambda d: struct.pack_into("<I", d, 8, struct.unpack_from("<I", d, 8)[0] ^ 0xFF))
    out = run(tmp_path)
    assert not out["cache_loaded"], damage
    assert out["save_error"] == ""
    assert run(tmp_path)["cache_loaded"], "the damaged file was not replaced by a valid one"


def test_cache_off_writes_nothing(tmp_path):
    out = run(tmp_path, TFMP_PIPELINE_CACHE="0")
    assert out["cache_path"] == "" and not out["cache_loaded"]
    assert os.listdir(str(tmp_path)) == []


def test_unwritable_cache_dir_is_not_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = run(blocker / "cache")
    assert out["cache_path"] == "" and not out["cache_loaded"]


def test_default_dir_follows_xdg_cache_home(tmp_path):
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", XDG_CACHE_HOME=str(tmp_path))
    env.pop("TFMP_CACHE_DIR", None)
    r = subprocess.run([KERNEL_BENCH, "--pipelines", "--limit", "2"], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    path = json.loads(r.stdout.strip().splitlines()[-1])["cache_path"]
    assert path.startswith(str(tmp_path / "tensorflow_metal_plugin") + "/vk-"), path
    assert os.path.exists(path)


def test_concurrent_processes_leave_one_valid_file(tmp_path):
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TFMP_CACHE_DIR=str(tmp_path))
    procs = [subprocess.Popen([KERNEL_BENCH, "--pipelines", "--threads", "1", "--offset", str(4 * i),
                               "--limit", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, out + err
        assert json.loads(out.strip().splitlines()[-1])["save_error"] == ""
    assert len(cache_files(tmp_path)) == 1
    assert not glob.glob(os.path.join(str(tmp_path), "*.tmp.*"))
    assert run(tmp_path, limit=16)["cache_loaded"]


def test_python_api_names_the_cache_and_saves_it(tmp_path):
    code = r"""
import json, os, tensorflow as tf, tensorflow_metal_plugin as tfmp
with tf.device("/GPU:0"):
    (tf.constant([1.0, 2.0]) * 3.0).numpy()
tfmp.save_pipeline_cache()
print("RESULT", json.dumps({"cache": tfmp.pipeline_cache(), "stats": tfmp.stats()}))
"""
    env = dict(os.environ, TFMP_ALLOW_SOFTWARE_DEVICE="1", TFMP_CACHE_DIR=str(tmp_path),
               TF_CPP_MIN_LOG_LEVEL="2")
    results = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        results.append(json.loads(r.stdout.split("RESULT", 1)[1]))
    first, second = results
    assert first["cache"][0]["path"].startswith(str(tmp_path))
    assert not first["cache"][0]["loaded"] and second["cache"][0]["loaded"]
    assert os.path.exists(first["cache"][0]["path"])
    assert first["stats"]["pipelines_created"] >= 1
