// Atomic loads and stores of 64-bit words, for records that one thread (or process) writes
// and another reads: the stall watchdog's heartbeats in memory shared between the ranks of
// a node, and the "entered collective X at time T" record of the training thread.
#ifndef LOCKSTEP_CATOMICS_H
#define LOCKSTEP_CATOMICS_H
#include <stdint.h>

static inline int64_t lockstep_atomic_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void lockstep_atomic_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

#endif
