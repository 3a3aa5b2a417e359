/* A program that uses the installed libntk_mpi: built by scripts/check_install.sh with
 * pkg-config (ntk_mpi) and with CMake (find_package(ntk COMPONENTS mpi) + ntk::ntk_mpi), and run
 * under mpirun -np 2. It fits a distributed kernel ridge on a 2 x 2 kernel filled by each rank
 * where it is stored, and checks the answer on every rank. */
#include <math.h>
#include <stdio.h>

#include "ntk_mpi.h"

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, ntk_mpi_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
    return 1;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ntk_mpi_grid *grid = NULL;
    ntk_mpi_matrix *K = NULL;
    ntk_mpi_kernel_ridge *model = NULL;
    if (ntk_mpi_grid_create(MPI_COMM_WORLD, 0, 0, 1, &grid) != NTK_OK) return fail("ntk_mpi_grid_create");
    if (ntk_mpi_matrix_create(grid, 2, 2, &K) != NTK_OK) return fail("ntk_mpi_matrix_create");
    /* K = [[2, 1], [1, 2]]: each rank writes its local entries (column-major). */
    double *data = NULL;
    int64_t rows = 0, cols = 0, lld = 0, row_index[2], col_index[2];
    ntk_mpi_matrix_local(K, &data, &rows, &cols, &lld);
    ntk_mpi_matrix_indices(K, row_index, col_index);
    for (int64_t j = 0; j < cols; j++)
        for (int64_t i = 0; i < rows; i++) data[i + j * lld] = row_index[i] == col_index[j] ? 2.0 : 1.0;
    /* (K + 0.5 I) alpha = y for y = (0.8, 2): alpha = (0, 0.8). */
    const double y[2] = {0.8, 2.0};
    ntk_targets targets = {1, y, 1, NULL, 0};
    if (ntk_mpi_kernel_ridge_fit(K, &targets, 0.5, NULL, &model) != NTK_OK) return fail("ntk_mpi_kernel_ridge_fit");
    double alpha[2];
    ntk_mpi_kernel_ridge_results(model, NULL, 0, alpha, 1);
    if (fabs(alpha[0]) > 1e-14 || fabs(alpha[1] - 0.8) > 1e-14) {
        fprintf(stderr, "rank %d: wrong alpha %g %g\n", rank, alpha[0], alpha[1]);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    ntk_mpi_kernel_ridge_free(model);
    ntk_mpi_matrix_free(K);
    ntk_mpi_grid_free(grid);
    if (rank == 0) printf("libntk_mpi %s ok on %d ranks\n", ntk_version_string(), size);
    MPI_Finalize();
    return 0;
}
