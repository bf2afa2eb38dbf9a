// Pool: connection pools that lease whole pipelines per event loop (see issue "Pool").
