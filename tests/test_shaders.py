"""Every shader variant is valid SPIR-V, stays inside Apple GPU limits and
translates to Metal Shading Language (the MoltenVK path)."""
import os
import shutil
import subprocess
import sys

from conftest import ROOT

GEN = os.path.join(ROOT, "tools", "gen_shaders.py")
SHADERS = os.path.join(ROOT, "kernels", "shaders")


def test_every_variant_translates_to_metal(tmp_path):
    r = subprocess.run([sys.executable, GEN, "--msl", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    sys.path.insert(0, SHADERS)
    import variants
    metal = sorted(os.listdir(tmp_path))
    # Every variant but the Vulkan-only ones (variants.REQUIRES: device features).
    portable = [r[0] for r in variants.variants() if r[0] not in variants.REQUIRES]
    assert sorted(t + ".metal" for t in portable) == metal and len(metal) > 50
    # REQUIRES names real variants and features the runtime knows (vk_device.cc's
    # HasFeature); the GEMMs it serves keep their portable variants.
    tokens = {r[0] for r in variants.variants()}
    assert set(variants.REQUIRES) <= tokens and set(variants.REQUIRES.values()) <= {"coopmat_nv", "coopmat_khr"}
    assert "matmul_f16" in portable and "matmul_f32" in portable
    for fn in metal:
        src = (tmp_path / fn).read_text()
        assert "kernel void main0" in src, fn


def test_limit_violations_fail_the_build(tmp_path):
    bad = tmp_path / "shaders"
    shutil.copytree(SHADERS, bad)
    (bad / "hog.comp").write_text(
        "#version 450\n#include \"common.glsl\"\nlayout(local_size_x = 64) in;\n"
        "shared float big[12288];\nlayout(push_constant) uniform P { TBuf x; } pc;\n"
        "void main() { big[gl_LocalInvocationID.x] = 1.0; barrier(); pc.x.v[0] = T(big[1]); }\n")
    with open(bad / "variants.py", "a") as f:
        f.write("\n_old = variants\ndef variants():\n    return _old() + [('hog_f32', 'hog.comp', _types('f32'))]\n")
    r = subprocess.run([sys.executable, GEN, "--shaders", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "shared memory" in (r.stderr + r.stdout)
