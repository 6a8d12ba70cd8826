#!/usr/bin/env bash
# nfield's test command (the README's, and what CI runs): installs what the tests need, then
# checks formatting, lints with warnings as errors, and runs every test of the workspace.
#
# Needs: cargo (stable) and python3 with pip. Installs with pip: mlx, mlx-cpu, numpy, pillow
# (the seed's own trainer, train.py, runs in a compatibility test) and nvidia-cuda-nvrtc (every
# CUDA kernel is compiled to a CUBIN for sm_80 and sm_90a; no GPU needed).
# Installs with apt (as root, or through sudo): mesa-vulkan-drivers and libvulkan1, Mesa's
# lavapipe CPU Vulkan driver, on which the wgpu engine's tests run (without an adapter they
# print "skipped: no adapter"; under CI=true they fail instead), and the X server and libraries
# the viewer's window tests need (`nfield view` under Xvfb: xvfb, xauth, and the X11 libraries
# winit loads at run time: libx11-6 libx11-xcb1 libxcb1 libxcursor1 libxrandr2 libxi6
# libxkbcommon0 libxkbcommon-x11-0). The window tests start Xvfb themselves; without it they
# print "skipped: no display" (under CI=true they fail instead).
# The seed's data is read from $NFIELD_SEED_DATA or ../shared/seed/data; without it the
# golden tests print "skipped: ..." (under CI=true they fail instead).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing the Python packages the tests use (mlx, mlx-cpu, numpy, pillow, nvidia-cuda-nvrtc)"
python3 -m pip install --quiet --disable-pip-version-check mlx mlx-cpu numpy pillow nvidia-cuda-nvrtc==13.0.88
NFIELD_NVRTC_PATH="$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))')"
export NFIELD_NVRTC_PATH

echo "== installing Mesa's CPU Vulkan driver (mesa-vulkan-drivers, libvulkan1) for the wgpu tests"
if ! ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1 ||
        { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null; }
fi
echo "== installing Xvfb and the X11 libraries of winit for the viewer's window tests"
VIEW_PKGS="xvfb xauth libx11-6 libx11-xcb1 libxcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon0 libxkbcommon-x11-0"
# shellcheck disable=SC2086
if ! command -v Xvfb >/dev/null 2>&1 || ! dpkg -s $VIEW_PKGS >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -q $VIEW_PKGS >/dev/null 2>&1 ||
        { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q $VIEW_PKGS >/dev/null; }
fi
# lavapipe is the only adapter here; its window-system probe wants a runtime directory.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
