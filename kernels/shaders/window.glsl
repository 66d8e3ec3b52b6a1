// Index arithmetic of the sliding-window shaders (conv.comp, pool.comp) for 2
// or 3 spatial dimensions. A spatial position is a uvec3 (d, h, w); variants
// with SPATIAL3 defined (Conv3D, the 3-D pools) have a depth dimension, the
// others (2-D) have depth 1 and d = 0 known at compile time, so their code is
// what a 2-D shader would be. Activations are [n, d, h, w, c] (channels last)
// or [n, c, d, h, w] (channels first: NCHW / NCDHW).

#ifdef SPATIAL3
#define IF_3D(a, b) (a)
#else
#define IF_3D(a, b) (b)
#endif

// A spatial size (d, h, w) from push constants; depth is 1 in 2-D variants.
#define DIMS3(d, h, w) uvec3(IF_3D(d, 1u), h, w)

// Position of spatial index i (< the product of dims), row-major.
uvec3 spatial_pos(uint i, uvec3 dims) {
  const uint w = i % dims.z;
  i /= dims.z;
  return uvec3(IF_3D(i / dims.y, 0u), IF_3D(i % dims.y, i), w);
}

// Splits index i of a row-major [rest, dims] array: p gets the position,
// the result is the rest (the batch index, or batch * C + c channels first).
uint split_pos(uint i, uvec3 dims, out uvec3 p) {
  p.z = i % dims.z;
  i /= dims.z;
  p.y = i % dims.y;
  i /= dims.y;
  p.x = IF_3D(i % dims.x, 0u);
  return IF_3D(i / dims.x, i);
}

uint spatial_index(uvec3 p, uvec3 dims) { return IF_3D(p.x * dims.y + p.y, p.y) * dims.z + p.z; }
uint spatial_count(uvec3 dims) { return IF_3D(dims.x * dims.y, dims.y) * dims.z; }

// Whether a (possibly negative) position lies inside dims.
bool inside(ivec3 p, uvec3 dims) {
  return all(greaterThanEqual(p, ivec3(0))) && all(lessThan(p, ivec3(dims)));
}

// Flat index of element (n, p, c) of an activation of spatial size dims and
// `chans` channels.
uint act_index(bool chans_first, uint n, uvec3 p, uint c, uvec3 dims, uint chans) {
  const uint s = spatial_index(p, dims);
  return chans_first ? (n * chans + c) * spatial_count(dims) + s
                     : (n * spatial_count(dims) + s) * chans + c;
}

// The inverse: (n, p, c) of flat index i; returns n.
uint act_coords(bool chans_first, uint i, uvec3 dims, uint chans, out uvec3 p, out uint c) {
  if (chans_first) {
    const uint t = split_pos(i, dims, p);
    c = t % chans;
    return t / chans;
  }
  c = i % chans;
  return split_pos(i / chans, dims, p);
}
