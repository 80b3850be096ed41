// OpenBLAS's CBLAS interface plus its thread-count controls.
#ifndef LOCKSTEP_CBLAS_SHIM_H
#define LOCKSTEP_CBLAS_SHIM_H
#include <cblas.h>
#endif
