#!/usr/bin/env bash
# Installs libntk for C and C++ programs into a prefix (default /usr/local):
#
#   lib/libntk.so.X.Y.Z         the library, stripped, exporting only the ntk_* functions,
#                               soname libntk.so.0.Y while the major version is 0 (each 0.Y
#                               may change the ABI), libntk.so.X from 1.0 on
#   lib/libntk.so.0.Y           the soname link, found by the dynamic loader
#   lib/libntk.so               the development link, found by `-lntk`
#   include/ntk.h
#   lib/pkgconfig/ntk.pc        `pkg-config --cflags --libs ntk`
#   lib/cmake/ntk/ntkConfig.cmake, ntkConfigVersion.cmake
#                               `find_package(ntk 0.2 REQUIRED)`, target `ntk::ntk`
#   share/ntk/install_manifest.txt   what --uninstall removes
#
# and, when MPI is present (mpicc, ScaLAPACK: scripts/build_mpi.sh builds it), the distributed layer:
#
#   lib/libntk_mpi.so.X.Y.Z     stripped, exporting only the ntk_mpi_* functions, soname
#                               libntk_mpi.so.0.Y (as libntk's), needing the installed libntk.so.0.Y
#   lib/libntk_mpi.so.0.Y, lib/libntk_mpi.so
#   include/ntk_mpi.h
#   lib/pkgconfig/ntk_mpi.pc    `pkg-config --cflags --libs ntk_mpi` (requires ntk and the MPI's .pc)
#   the CMake target ntk::ntk_mpi of the same package: find_package(ntk 0.Y REQUIRED COMPONENTS mpi)
#
# Usage: scripts/install.sh [--prefix DIR] [--without-mpi] [--uninstall]
# DESTDIR is honoured (staged installs: files go to $DESTDIR$prefix, and the .pc and CMake
# files name $prefix). Builds the library first if needed (scripts/build.sh). Needs patchelf
# (to set the soname; installed with apt-get when missing and allowed) and binutils' strip.
# The version comes from include/ntk.h (NTK_VERSION_MAJOR/MINOR/PATCH), the one source.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

prefix=/usr/local
uninstall=0
with_mpi=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --uninstall) uninstall=1; shift ;;
        --without-mpi) with_mpi=no; shift ;;
        -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$prefix" in
    /*) ;;
    *) prefix="$(cd "$prefix" 2>/dev/null && pwd || echo "$PWD/$prefix")" ;;
esac
prefix="${prefix%/}"
root="${DESTDIR:-}$prefix"
manifest="$root/share/ntk/install_manifest.txt"

if [ "$uninstall" = 1 ]; then
    if [ ! -f "$manifest" ]; then
        echo "install.sh: nothing to uninstall: no $manifest" >&2
        exit 1
    fi
    while IFS= read -r file; do
        rm -f "${DESTDIR:-}$file"
    done < "$manifest"
    rm -f "$manifest"
    for dir in share/ntk lib/cmake/ntk lib/cmake lib/pkgconfig; do
        rmdir "$root/$dir" 2>/dev/null || true
    done
    echo "uninstalled libntk from $root"
    exit 0
fi

version_part() { sed -n "s/^#define NTK_VERSION_$1 \([0-9][0-9]*\)$/\1/p" "$repo/include/ntk.h"; }
major="$(version_part MAJOR)"; minor="$(version_part MINOR)"; patch="$(version_part PATCH)"
if [ -z "$major" ] || [ -z "$minor" ] || [ -z "$patch" ]; then
    echo "install.sh: could not read NTK_VERSION_MAJOR/MINOR/PATCH from include/ntk.h" >&2
    exit 1
fi
version="$major.$minor.$patch"
if [ "$major" = 0 ]; then soversion="0.$minor"; else soversion="$major"; fi

if ! command -v patchelf >/dev/null; then
    echo "== installing patchelf (apt-get), which sets the installed library's soname" >&2
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq patchelf >/dev/null; } ||
        { echo "install.sh: patchelf is needed: apt-get install patchelf" >&2; exit 1; }
fi

built="$("$repo/scripts/build.sh")"

libdir="$root/lib"
mkdir -p "$libdir/pkgconfig" "$libdir/cmake/ntk" "$root/include" "$root/share/ntk"
real="libntk.so.$version"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$built" "$tmp/$real"
strip --strip-unneeded "$tmp/$real"
patchelf --set-soname "libntk.so.$soversion" "$tmp/$real"
patchelf --remove-rpath "$tmp/$real"  # SwiftPM's $ORIGIN: the installed library needs none
install -m 0755 "$tmp/$real" "$libdir/$real"
ln -sfn "$real" "$libdir/libntk.so.$soversion"
ln -sfn "libntk.so.$soversion" "$libdir/libntk.so"
install -m 0644 "$repo/include/ntk.h" "$root/include/ntk.h"

# pkg-config: a shared library that links OpenBLAS and LAPACKE itself, so only static linking
# (not shipped) would need them; they are listed for completeness.
cat > "$libdir/pkgconfig/ntk.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: ntk
Description: libntk: Neural Tangent Kernels (empirical and infinite-width), kernel regression and gradient-flow dynamics
Version: $version
Requires.private: openblas lapacke
Cflags: -I\${includedir}
Libs: -L\${libdir} -lntk
Libs.private: -lm
EOF

cat > "$libdir/cmake/ntk/ntkConfig.cmake" <<EOF
# CMake package of libntk $version: find_package(ntk $major.$minor REQUIRED), then
# target_link_libraries(app PRIVATE ntk::ntk). Generated by scripts/install.sh.
get_filename_component(_ntk_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET ntk::ntk)
  add_library(ntk::ntk SHARED IMPORTED)
  set_target_properties(ntk::ntk PROPERTIES
    IMPORTED_LOCATION "\${_ntk_prefix}/lib/$real"
    IMPORTED_SONAME "libntk.so.$soversion"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ntk_prefix}/include")
endif()
# The distributed layer, when it was installed: the component "mpi", target ntk::ntk_mpi
# (libntk_mpi + libntk + MPI's C library, found with CMake's FindMPI).
set(ntk_mpi_FOUND FALSE)
if(EXISTS "\${_ntk_prefix}/lib/libntk_mpi.so.$version")
  include(CMakeFindDependencyMacro)
  if("mpi" IN_LIST ntk_FIND_COMPONENTS)
    find_dependency(MPI COMPONENTS C)
  else()
    find_package(MPI QUIET COMPONENTS C)
  endif()
  if(MPI_C_FOUND AND NOT TARGET ntk::ntk_mpi)
    add_library(ntk::ntk_mpi SHARED IMPORTED)
    set_target_properties(ntk::ntk_mpi PROPERTIES
      IMPORTED_LOCATION "\${_ntk_prefix}/lib/libntk_mpi.so.$version"
      IMPORTED_SONAME "libntk_mpi.so.$soversion"
      INTERFACE_INCLUDE_DIRECTORIES "\${_ntk_prefix}/include"
      INTERFACE_LINK_LIBRARIES "ntk::ntk;MPI::MPI_C")
  endif()
  if(TARGET ntk::ntk_mpi)
    set(ntk_mpi_FOUND TRUE)
  endif()
endif()
foreach(_ntk_component IN LISTS ntk_FIND_COMPONENTS)
  if(NOT ntk_\${_ntk_component}_FOUND)
    set(ntk_FOUND FALSE)
    set(ntk_NOT_FOUND_MESSAGE "libntk component '\${_ntk_component}' is not installed in \${_ntk_prefix} (the only component is mpi: scripts/install.sh installs it where MPI and ScaLAPACK are present)")
  endif()
endforeach()
set(ntk_VERSION "$version")
unset(_ntk_prefix)
unset(_ntk_component)
EOF

# Compatibility: before 1.0 only the same major.minor (each minor may change the ABI), any
# patch at or above the one asked for; from 1.0 the same major version, at least as new.
cat > "$libdir/cmake/ntk/ntkConfigVersion.cmake" <<EOF
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if(PACKAGE_FIND_VERSION_MAJOR EQUAL $major AND NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  if($major GREATER 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor)
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
endif()
if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
if(NOT CMAKE_SIZEOF_VOID_P EQUAL 8)
  set(PACKAGE_VERSION "\${PACKAGE_VERSION} (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
EOF

printf '%s\n' "$prefix/lib/$real" "$prefix/lib/libntk.so.$soversion" "$prefix/lib/libntk.so" \
    "$prefix/include/ntk.h" "$prefix/lib/pkgconfig/ntk.pc" "$prefix/lib/cmake/ntk/ntkConfig.cmake" \
    "$prefix/lib/cmake/ntk/ntkConfigVersion.cmake" > "$manifest"

# The distributed layer: built with mpicc where MPI is present, linked to the installed libntk.
mpi_note="without the MPI layer (--without-mpi)"
if [ "$with_mpi" = auto ] && ! command -v mpicc >/dev/null; then
    mpi_note="without the MPI layer (no mpicc: apt-get install libopenmpi-dev libscalapack-openmpi-dev)"
elif [ "$with_mpi" = auto ]; then
    bash "$repo/scripts/build_mpi.sh" >&2
    mpi_real="libntk_mpi.so.$version"
    cp "$(dirname "$built")/libntk_mpi.so" "$tmp/$mpi_real"
    strip --strip-unneeded "$tmp/$mpi_real"
    patchelf --set-soname "libntk_mpi.so.$soversion" "$tmp/$mpi_real"
    patchelf --replace-needed libntk.so "libntk.so.$soversion" "$tmp/$mpi_real"  # the installed libntk
    patchelf --remove-rpath "$tmp/$mpi_real"
    install -m 0755 "$tmp/$mpi_real" "$libdir/$mpi_real"
    ln -sfn "$mpi_real" "$libdir/libntk_mpi.so.$soversion"
    ln -sfn "libntk_mpi.so.$soversion" "$libdir/libntk_mpi.so"
    install -m 0644 "$repo/include/ntk_mpi.h" "$root/include/ntk_mpi.h"
    # ntk_mpi.h includes mpi.h: the MPI's own pkg-config name (Debian: mpi-c) brings its flags.
    mpi_pc=""
    for name in mpi-c ompi-c mpich; do
        if pkg-config --exists "$name" 2>/dev/null; then mpi_pc=", $name"; break; fi
    done
    cat > "$libdir/pkgconfig/ntk_mpi.pc" <<EOF
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: ntk_mpi
Description: libntk over MPI and ScaLAPACK: distributed kernels, kernel ridge, spectral solver, data-parallel fits
Version: $version
Requires: ntk = $version$mpi_pc
Cflags: -I\${includedir}
Libs: -L\${libdir} -lntk_mpi
EOF
    printf '%s\n' "$prefix/lib/$mpi_real" "$prefix/lib/libntk_mpi.so.$soversion" "$prefix/lib/libntk_mpi.so" \
        "$prefix/include/ntk_mpi.h" "$prefix/lib/pkgconfig/ntk_mpi.pc" >> "$manifest"
    mpi_note="with the MPI layer (libntk_mpi.so.$soversion)"
fi
# A system prefix: refresh the loader's cache (as ldconfig after any library install).
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig || true; fi
echo "installed libntk $version into $root (soname libntk.so.$soversion), $mpi_note"
