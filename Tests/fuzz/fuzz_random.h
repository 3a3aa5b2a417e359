/* The fuzz drivers' random stream and sizes (Tests/fuzz/fuzz_api.c, Tests/mpi/fuzz_mpi.c): splitmix64 from
 * a seed the driver prints, so a finding replays with the same SEED argument. */
#ifndef NTK_FUZZ_RANDOM_H
#define NTK_FUZZ_RANDOM_H

#include <stdint.h>

static unsigned long long state;
static unsigned long long next_u64(void) {
    unsigned long long z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
/* True with the given percent probability. */
static int chance(int percent) { return (int)(next_u64() % 100) < percent; }
/* Uniform in lo..hi. */
static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64() % (unsigned long long)(hi - lo + 1)); }

/* A size: usually small, sometimes zero, negative or huge. */
static int64_t size(int64_t typical) {
    int r = (int)pick(0, 99);
    if (r < 3) return -pick(1, 5);
    if (r < 6) return chance(50) ? ((int64_t)1 << 31) + pick(0, 10) : INT64_MAX / pick(1, 4);
    if (r < 12) return 0;
    return pick(1, typical);
}
static int huge(int64_t n) { return n < 0 || n > 100000; }

#endif
