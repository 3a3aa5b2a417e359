/* A program that uses the installed libntk: built by scripts/check_install.sh with pkg-config,
 * with CMake (find_package(ntk) + ntk::ntk) and with plain -I/-L/-lntk. It checks that the
 * library it runs against has the header's version and solves a small kernel ridge problem. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ntk.h"

int main(void) {
    if (ntk_version_number() != NTK_VERSION_NUMBER) {
        fprintf(stderr, "header %d but library %s\n", NTK_VERSION_NUMBER, ntk_version_string());
        return 1;
    }
    /* (K + 0.5 I) x = y for K = [[2, 1], [1, 2]], y = (0.8, 2): x = (0, 0.8). */
    double K[4] = {2, 1, 1, 2}, y[2] = {0.8, 2}, x[2];
    if (ntk_cholesky_solve(2, 1, K, 2, 0.5, y, 1, x, 1, NULL, NULL) != NTK_OK) {
        fprintf(stderr, "ntk_cholesky_solve: %s\n", ntk_last_error());
        return 1;
    }
    if (fabs(x[0]) > 1e-14 || fabs(x[1] - 0.8) > 1e-14) {
        fprintf(stderr, "wrong solution %g %g\n", x[0], x[1]);
        return 1;
    }
    printf("libntk %s ok\n", ntk_version_string());
    return 0;
}
