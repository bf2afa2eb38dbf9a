// The hint is an inline function in the header; SwiftPM wants a source file per C target.
#include "CachePrefetchHint.h"
