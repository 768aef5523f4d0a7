#include <config.h>
/* Written by its issue-3 owner. */
