/* Which shared object defines an address (dladdr, a GNU extension Swift's Glibc module does not
 * declare): how BLAS.libraryPaths tells a system OpenBLAS from one bundled in a wheel. */
#define _GNU_SOURCE
#include "ckernels.h"

#include <dlfcn.h>
#include <stddef.h>

const char *ckernels_shared_object_path(const void *address) {
    Dl_info info;
    if (address == NULL || dladdr(address, &info) == 0 || info.dli_fname == NULL || info.dli_fname[0] == '\0') {
        return NULL;
    }
    return info.dli_fname;
}
