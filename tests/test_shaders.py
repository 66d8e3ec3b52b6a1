"""Every shader variant is valid SPIR-V, stays inside Apple GPU limits and
translates to Metal Shading Language (the MoltenVK path)."""
import os
import shutil
import subprocess
import sys

import pytest
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
    assert set(variants.REQUIRES) <= tokens and set(variants.REQUIRES.values()) <= {"coopmat_nv", "coopmat_khr", "coopmat2_nv"}
    assert "matmul_64x64_f16" in portable and "matmul_64x64_f32" in portable
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


def _spirv_words(code):
    import struct
    words = struct.unpack("<%dI" % (len(code) // 4), code)
    insts, i = [], 5
    while i < len(words):
        insts.append((words[i] & 0xFFFF, list(words[i + 1:i + (words[i] >> 16)])))
        i += words[i] >> 16
    return insts


@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
def test_coopmat_khr_rewrite(tmp_path, layout):
    # The VK_KHR_cooperative_matrix variants are the NV shader rewritten at build
    # time (gen_shaders.coopmat_nv_to_khr): no NV instruction is left, each
    # matrix type has the use its MulAdd operand position says, loads and stores
    # carry the layout of their operand, and ids are defined before the types use them.
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gen_shaders
    a_col, b_col = layout[0] == "t", layout[1] == "t"
    spv = tmp_path / "m.spv"
    defines = ["-DT=float16_t", "-DC=float", "-DACC=float", "-DTFMP_FP16=1", "-DA_COL=%d" % a_col,
               "-DB_COL=%d" % b_col]
    cmd = ["glslc", "-fshader-stage=compute", "--target-env=vulkan1.2", "-O", "-I", SHADERS,
           os.path.join(SHADERS, "matmul_coopmat.comp"), "-o", str(spv)] + defines
    subprocess.run(cmd + ["-DCOOPMAT_KHR=1"], check=True)
    insts = _spirv_words(gen_shaders.coopmat_nv_to_khr(spv.read_bytes()))
    ops = {op for op, _ in insts}
    assert not ops & {5358, 5359, 5360, 5361, 5362} and {4456, 4457, 4458, 4459} <= ops
    assert [17, [6022]] in [[op, w] for op, w in insts] and [17, [5357]] not in [[op, w] for op, w in insts]
    consts = {w[1]: w[2] for op, w in insts if op == 43 and len(w) == 3}
    use = {w[0]: consts[w[5]] for op, w in insts if op == 4456}
    assert sorted(use.values()) == [0, 1, 2]
    rtype = {w[1]: w[0] for op, w in insts if len(w) > 1 and op in (61, 4457, 4459)}
    muladds = [w for op, w in insts if op == 4459]
    assert len(muladds) == 2 * 4 * 2  # BK / 16 steps x the 4 x 2 fragments of a subgroup
    for w in muladds:
        assert [use[rtype[w[2]]], use[rtype[w[3]]], use[rtype[w[4]]], use[w[0]]] == [0, 1, 2, 2]
    for op, w in insts:
        if op == 4457:  # loads: A and B with their operand's layout (1 = column-major)
            assert consts[w[3]] == {0: a_col, 1: b_col}[use[w[0]]]
        if op == 4458:  # the accumulator goes to shared memory row-major
            assert consts[w[2]] == 0
    if os.environ.get("SPIRV_VAL_KHR"):  # a spirv-val that knows the KHR extension
        out = tmp_path / "k.spv"
        out.write_bytes(gen_shaders.coopmat_nv_to_khr(spv.read_bytes()))
        subprocess.run([os.environ["SPIRV_VAL_KHR"], "--target-env", "vulkan1.2", str(out)], check=True)
    # Without distinct A and B types (the NV variants) the rewrite refuses.
    subprocess.run(cmd, check=True)
    with pytest.raises(ValueError, match="used as both"):
        gen_shaders.coopmat_nv_to_khr(spv.read_bytes())


def test_the_build_has_the_coopmat2_variants_where_glslang16_is_there():
    # make build fetches glslang 16 (tools/glslang16.py) before Bazel; the
    # genrule must then find it (its action environment: HOME / the cache) and
    # embed the VK_NV_cooperative_matrix2 GEMMs.
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import glslang16
    lib = os.path.join(ROOT, "bazel-bin", "kernels", "shaders", "kernel_library.cc")
    if not os.path.exists(lib):
        pytest.skip("no Bazel build here")
    if not glslang16.library_path(allow_fetch=False):
        pytest.skip("glslang 16 is not in the cache (no network on the build?)")
    sys.path.insert(0, SHADERS)
    import variants
    text = open(lib).read()
    for token, _, _ in variants.coopmat2_variants() + variants.mma_peak_variants():
        assert '{"%s", k_%s,' % (token, token) in text, token
