"""Shared infrastructure of every stage, about no stage and no manifest in particular.

``config_file`` (the typed TOML config loader, ``--set`` overrides and range-checked argparse
types), ``numbers`` (the config number types), ``uri`` (local paths and URIs: filesystems and
bounded byte reads), ``images`` (the photo and kernel-PNG decoding rules: decompression-bomb
limits, 16-bit scaling), ``files`` (the one atomic write and the liveness of a writer),
``npy`` (``.npy`` files read from untrusted bytes), ``progress`` (a bar on a terminal, a line
every few seconds in a log) and ``ray_start`` (one Ray start-up). Above ``optics`` only (the
kernel PNGs are ``optics.aperture`` kernels), below ``manifests``; nothing is imported here.
"""
