"""rktfast: a fast, safe drop-in replacement for the rkt command line."""

RKT_VERSION = "1.30.0"
APPC_VERSION = "0.8.11"
RKTFAST_VERSION = "0.1.0"
