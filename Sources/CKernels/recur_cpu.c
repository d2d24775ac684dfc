#include "recur_kernels.h"
